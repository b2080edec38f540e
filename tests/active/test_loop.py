"""The experiment loop: the budget is spent exactly, same seed same rounds, a failing instrument loses no recorded
round and the loop resumes to the numbers of an uninterrupted run; strategies against hand-made cases."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from causalphys.active.instruments import InstrumentError, SCMInstrument
from causalphys.active.learners import TrainerLearner
from causalphys.active.loop import ActiveLoop, ActiveLoopError
from causalphys.active.strategies import (
    InstrumentMatchStrategy,
    LoopState,
    PredictionShiftStrategy,
    RandomStrategy,
    UncertaintyStrategy,
    radial_log_spectrum,
)
from causalphys.evaluation.harness import net_factory
from causalphys.evaluation.store import StoreError
from causalphys.nets import MLP
from causalphys.scm import catalog as mech
from causalphys.scm.model import SCM
from causalphys.seeding import make_generator
from causalphys.trainers import ERM


def toy_instrument(candidate: str, n: int, seed: int):
    """Two features; the label is x0 > 0; in experiment "shortcut" x1 copies the label, elsewhere it is noise."""
    g = make_generator(seed)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] > 0).long()
    if candidate == "shortcut":
        x[:, 1] = 2.0 * y - 1.0
    return x, y


def held_out():
    g = make_generator(123)
    x = torch.randn(400, 2, generator=g)
    return x, (x[:, 0] > 0).long()


def learner(steps: int = 30) -> TrainerLearner:
    return TrainerLearner(
        lambda s: ERM(steps=steps, batch_size=32, lr=0.05, seed=s, progress=False),
        net_factory(MLP, hidden=(8,)),
        n_outputs=2,
        name="erm_mlp",
    )


def evaluate(model) -> dict:
    x, y = held_out()
    return {"flipped": {"accuracy": float((model.predict(x).argmax(1) == y).float().mean())}}


def make_loop(instrument=toy_instrument, strategy=None, out=None, budget=50, batch=16, seed=0):
    return ActiveLoop(
        instrument,
        strategy or RandomStrategy(),
        learner(),
        evaluate,
        budget=budget,
        batch_size=batch,
        candidates=["shortcut", "plain"],
        seed=seed,
        out=out,
    )


def test_the_budget_is_spent_exactly():
    result = make_loop(budget=50, batch=16).run()
    labelled = sorted({r["labelled"] for r in result.rows})
    assert labelled == [16, 32, 48, 50]
    assert sum(result.counts.values()) == 50
    assert sum(len(y) for _, y in result.data.values()) == 50
    assert len(result.choices) == 4


def test_same_seed_same_rounds_other_seed_other_choices():
    a, b = make_loop(seed=3, budget=160).run(), make_loop(seed=3, budget=160).run()
    assert a.choices == b.choices
    assert [r["value"] for r in a.rows] == [r["value"] for r in b.rows]
    others = [make_loop(seed=s, budget=160).run().choices for s in range(4, 8)]
    assert any(c != a.choices for c in others)


def test_a_failing_instrument_loses_no_recorded_round_and_the_loop_resumes(tmp_path):
    calls = []

    def flaky(candidate, n, seed):
        calls.append(candidate)
        if len(calls) == 3:
            raise OSError("the microscope's vacuum tripped")
        return toy_instrument(candidate, n, seed)

    with pytest.raises(ActiveLoopError, match=r"round 2: the instrument failed measuring '\w+' \(OSError: the micro"):
        make_loop(instrument=flaky, out=tmp_path).run()
    with open(tmp_path / "results.csv", newline="") as f:
        recorded = list(csv.DictReader(f))
    assert sorted({int(r["round"]) for r in recorded}) == [0, 1]
    resumed = make_loop(instrument=flaky, out=tmp_path).run()  # the 4th call and on succeed
    fresh = make_loop().run()
    assert resumed.choices == fresh.choices
    assert [r["value"] for r in resumed.rows] == [r["value"] for r in fresh.rows]
    assert len(calls) == 3 + 2  # rounds 0 and 1 were not measured again


def test_a_folder_of_another_loop_is_refused(tmp_path):
    make_loop(out=tmp_path, budget=32).run()
    with pytest.raises(StoreError, match="another experiment loop"):
        make_loop(out=tmp_path, budget=48).run()


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda c, n, s: (torch.zeros(n - 1, 2), torch.zeros(n - 1)), r"asked for 16 units \(round 0"),
        (lambda c, n, s: (torch.full((n, 2), float("nan")), torch.zeros(n)), r"non-finite x for unit 0 \(round 0"),
        (lambda c, n, s: torch.zeros(n, 2), r"must return \(x, y\)"),
    ],
)
def test_bad_measurements_are_named(bad, message):
    with pytest.raises(InstrumentError, match=message):
        make_loop(instrument=bad).run()


def test_bad_settings_are_named():
    with pytest.raises(InstrumentError, match="budget must be a positive integer, got 0"):
        make_loop(budget=0)
    with pytest.raises(InstrumentError, match="candidate experiments"):
        ActiveLoop(toy_instrument, RandomStrategy(), learner(), evaluate, budget=10, batch_size=5)

    class Rogue(RandomStrategy):
        def select(self, state, generator):
            return "elsewhere"

    with pytest.raises(ActiveLoopError, match="chose unknown experiment 'elsewhere'"):
        make_loop(strategy=Rogue()).run()


class FixedModel:
    """Predicts p(class 1) = ``p`` for units whose first feature is positive, 0.5 elsewhere."""

    def __init__(self, p: float):
        self.p = p

    def predict(self, x):
        logit = torch.logit(torch.tensor(self.p)) * (x[:, 0] > 0).float()
        return torch.stack([torch.zeros_like(logit), logit], 1)


class SeedLearner:
    def __init__(self):
        self.seeds = []

    def fit(self, data, seed):
        self.seeds.append(seed)
        return FixedModel(0.1 if len(self.seeds) % 2 else 0.9)


class PoolInstrument:
    candidates = ["agreed", "disputed"]

    def pool(self, candidate, n, seed):  # members only differ on units with a positive first feature
        x = torch.ones(n, 2) if candidate == "disputed" else -torch.ones(n, 2)
        return x


def test_uncertainty_strategy_measures_where_the_ensemble_disagrees():
    strategy = UncertaintyStrategy(members=2, pool_size=8, warmup=0)
    learner_ = SeedLearner()
    state = LoopState(
        1, ["agreed", "disputed"], {}, {"agreed": (None, None)}, FixedModel(0.9), PoolInstrument(), learner_, 0
    )
    assert strategy.choose(state, make_generator(0)) == "disputed"
    assert state.extra["scores"]["agreed"] == pytest.approx(0.0)
    assert state.extra["scores"]["disputed"] == pytest.approx(2 * 0.4**2)  # variance 0.16 per class, 2 classes
    # the entropy of the mean prediction is total uncertainty, not disagreement: where both members say 0.5 it is
    # highest (the next member the learner fits says 0.9, like the loop's model, on the "disputed" pool)
    entropy = UncertaintyStrategy(members=2, pool_size=8, score="entropy", warmup=0)
    assert entropy.choose(state, make_generator(0)) == "agreed"
    assert state.extra["scores"]["agreed"] == pytest.approx(torch.log(torch.tensor(2.0)).item())


def test_uncertainty_strategy_warms_up_in_turn_and_needs_a_pool():
    strategy = UncertaintyStrategy(members=2, warmup=2)
    state = LoopState(0, ["a", "b", "c"], {}, {}, None, object(), SeedLearner(), 0)
    assert [strategy.choose(LoopState(r, ["a", "b", "c"], {}, {}, None, object(), None, 0), None) for r in (0, 1)] == [
        "a",
        "b",
    ]
    state.round, state.model = 2, FixedModel(0.9)
    with pytest.raises(ValueError, match="needs an instrument with pool"):
        strategy.choose(state, make_generator(0))
    with pytest.raises(ValueError, match="unknown uncertainty score 'bald'"):
        UncertaintyStrategy(score="bald")
    with pytest.raises(ValueError, match="members must be an integer >= 2"):
        UncertaintyStrategy(members=1)


def test_random_strategy_draws_every_candidate_from_the_generator():
    strategy = RandomStrategy()
    state = LoopState(0, ["a", "b", "c"], {}, {}, None, None, None, 0)
    draws = [strategy.choose(state, make_generator(s)) for s in range(60)]
    assert set(draws) == {"a", "b", "c"}
    assert draws == [strategy.choose(state, make_generator(s)) for s in range(60)]


def test_scm_instrument_measures_environments_and_names_unknown_ones():
    scm = SCM([("x", "y")], {"x": mech.Normal(0.0, 1.0), "y": mech.Function(lambda x: (x > 0).float())})
    instrument = SCMInstrument({"obs": scm, "high": scm.do(x=2.0)}, x="x", y="y", transform=lambda v: v.unsqueeze(1))
    x, y = instrument.measure("high", 10, seed=0)
    assert x.shape == (10, 1) and torch.equal(x, torch.full((10, 1), 2.0))
    assert instrument.pool("obs", 7, seed=0).shape == (7, 1)
    assert not torch.equal(instrument.pool("obs", 7, seed=0), instrument.measure("obs", 7, seed=0)[0])
    with pytest.raises(InstrumentError, match="unknown experiment 'low'"):
        instrument.measure("low", 3, seed=0)
    with pytest.raises(InstrumentError, match=r"has no node\(s\) \['label'\]"):
        SCMInstrument({"obs": scm}, x="x")


class ToyInstrument:
    candidates = ["shortcut", "plain"]

    def measure(self, candidate, n, seed):
        return toy_instrument(candidate, n, seed)

    def pool(self, candidate, n, seed):
        return toy_instrument(candidate, n, seed + 1)[0]


def test_uncertainty_loop_end_to_end_with_a_trainer():
    strategy = UncertaintyStrategy(members=2, pool_size=64, warmup=1)
    result = make_loop(instrument=ToyInstrument(), strategy=strategy, budget=64, batch=16).run()
    assert result.choices[0] == "shortcut"  # the warm-up round
    assert len(result.choices) == 4 and 0.0 <= result.rows[-1]["value"] <= 1.0


def test_a_round_in_the_results_but_not_in_the_saved_state_is_redone(tmp_path):
    make_loop(out=tmp_path, budget=48).run()
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    last = state["choices"].pop()  # as if killed between writing results.csv and state.pt in round 2
    x, y = state["data"][last]
    state["data"][last] = (x[:-16], y[:-16])
    if not len(y[:-16]):
        del state["data"][last]
    torch.save(state, tmp_path / "state.pt")
    again = make_loop(out=tmp_path, budget=48).run()
    fresh = make_loop(budget=48).run()
    assert again.choices == fresh.choices
    assert [r["value"] for r in again.rows] == [r["value"] for r in fresh.rows]


def test_prediction_shift_measures_where_predicted_classes_part_from_the_labels():
    strategy = PredictionShiftStrategy(pool_size=8, prior_count=1.0, warmup=0)
    balanced = (torch.zeros(8, 2), torch.tensor([0, 1] * 4))
    state = LoopState(1, ["agreed", "disputed"], {}, {"agreed": balanced}, FixedModel(0.9), PoolInstrument(), None, 0)
    assert strategy.choose(state, make_generator(0)) == "disputed"
    # agreed: the model says 0.5/0.5 on its pool, its labels are 4 + 1 / 4 + 1; disputed (not measured: all labels
    # so far) against the model's 0.1/0.9
    assert state.extra["scores"]["agreed"] == pytest.approx(0.0, abs=1e-6)
    kl = 0.5 * torch.log(torch.tensor(0.5 / 0.1)) + 0.5 * torch.log(torch.tensor(0.5 / 0.9))
    assert state.extra["scores"]["disputed"] == pytest.approx(kl.item(), rel=1e-5)
    # each measured experiment is judged against its own labels: the disputed one's are what the model says there
    # (0 + 1 : 8 + 1 = 0.1 : 0.9, no shift left); the agreed one's are 0.9 : 0.1 against the model's 0.5 : 0.5
    state.data = {
        "agreed": (torch.zeros(8, 2), torch.tensor([0] * 8)),
        "disputed": (torch.zeros(8, 2), torch.tensor([1] * 8)),
    }
    assert strategy.choose(state, make_generator(0)) == "agreed"
    assert state.extra["scores"]["disputed"] == pytest.approx(0.0, abs=1e-6)
    assert state.extra["scores"]["agreed"] == pytest.approx(0.9 * math.log(1.8) + 0.1 * math.log(0.2), rel=1e-5)


def test_prediction_shift_warms_up_and_names_bad_settings():
    strategy = PredictionShiftStrategy(warmup=2)
    assert [strategy.choose(LoopState(r, ["a", "b", "c"], {}, {}, None, object(), None, 0), None) for r in (0, 1)] == [
        "a",
        "b",
    ]
    state = LoopState(
        2, ["a"], {}, {"a": (torch.zeros(2, 2), torch.tensor([0, 1]))}, FixedModel(0.9), object(), None, 0
    )
    with pytest.raises(ValueError, match="needs an instrument with pool"):
        strategy.choose(state, make_generator(0))
    state.instrument, state.data = PoolInstrument(), {"a": (torch.zeros(2, 2), torch.tensor([0.0, 1.0]))}
    with pytest.raises(ValueError, match="needs class labels"):
        strategy.choose(state, make_generator(0))
    state.data = {"a": (torch.zeros(2, 2), torch.tensor([0, 5]))}
    with pytest.raises(ValueError, match=r"labels must lie in 0..1 \(the model's classes\), got \[0, 5\]"):
        strategy.choose(state, make_generator(0))
    with pytest.raises(ValueError, match="pool_size must be a positive integer"):
        PredictionShiftStrategy(pool_size=0)
    with pytest.raises(ValueError, match="prior_count must be a positive finite number"):
        PredictionShiftStrategy(prior_count=0)


def fixed_instrument_toy(candidate: str, n: int, seed: int):
    """As ``toy_instrument``, plus "fixed": the instrument feature x1 held at +1 (do(x1 := 1)), whatever the label."""
    if candidate != "fixed":
        return toy_instrument(candidate, n, seed)
    x, y = toy_instrument("plain", n, seed)
    x[:, 1] = 1.0
    return x, y


class FixedToyInstrument:
    candidates = ["shortcut", "plain", "fixed"]

    def measure(self, candidate, n, seed):
        return fixed_instrument_toy(candidate, n, seed)

    def pool(self, candidate, n, seed):
        return fixed_instrument_toy(candidate, n, seed + 1)[0]


def test_prediction_shift_loop_goes_where_the_shortcut_breaks():
    # after the shortcut experiment the model reads x1; with x1 held at +1 it says "1" for everything although half
    # the labels are 0: the strategy measures "fixed" next
    loop = ActiveLoop(
        FixedToyInstrument(),
        PredictionShiftStrategy(pool_size=128, warmup=1),
        TrainerLearner(
            lambda s: ERM(steps=150, batch_size=32, lr=0.05, seed=s, progress=False),
            net_factory(MLP, hidden=(8,)),
            n_outputs=2,
            name="erm_mlp",
        ),
        evaluate,
        budget=64,
        batch_size=32,
        seed=0,
    )
    result = loop.run()
    assert result.choices == ["shortcut", "fixed"]


@pytest.mark.parametrize("strategy", [UncertaintyStrategy(members=2), PredictionShiftStrategy()])
def test_with_no_model_yet_the_first_experiment_is_randoms_own_draw(strategy):
    candidates = ["a", "b", "c", "d", "e"]
    firsts = set()
    for seed in range(8):
        state = LoopState(0, candidates, {}, {}, None, object(), None, seed)
        mine = strategy.choose(state, make_generator(seed))
        assert mine == RandomStrategy().choose(state, make_generator(seed))
        firsts.add(mine)
    assert len(firsts) > 1  # not always the first listed


def test_a_penalty_learner_needs_two_experiments_or_a_trainer_until_then():
    from causalphys.trainers import VREx

    one = {"plain": toy_instrument("plain", 32, 0)}
    two = {**one, "shortcut": toy_instrument("shortcut", 32, 1)}

    def vrex(s):
        return VREx(steps=5, batch_size=16, seed=s, progress=False)

    def erm(s):
        return ERM(steps=5, batch_size=16, seed=s, progress=False)

    strict = TrainerLearner(vrex, net_factory(MLP, hidden=(8,)), n_outputs=2, name="vrex")
    with pytest.raises(ValueError, match=r"VREx needs at least 2 environments, but only \['plain'\]"):
        strict.fit(one, seed=0)
    patient = TrainerLearner(vrex, net_factory(MLP, hidden=(8,)), n_outputs=2, name="vrex", until_enough=erm)
    assert type(patient.fit(one, seed=0)) is ERM and type(patient.fit(two, seed=0)) is VREx
    assert repr(patient) == "TrainerLearner(vrex, n_outputs=2, until_enough)"


def test_radial_log_spectrum_by_hand_and_against_blur():
    # a cosine along the rows at 1/4 cycle per pixel: all its power sits at |k| = 0.25, in ring 1 of 4
    n, size, bins = 3, 16, 4
    rows = torch.cos(2 * math.pi * 0.25 * torch.arange(size, dtype=torch.float64)).view(1, -1, 1)
    images = rows.expand(n, size, size).clone()
    spectrum = radial_log_spectrum(images, bins=bins)
    ring = int(0.25 / (0.5 * 2**0.5) * bins)  # ring 1 of 4
    power = torch.fft.rfft2(images[0] - images[0].mean()).abs().pow(2)
    k = torch.sqrt(torch.fft.fftfreq(size).view(-1, 1) ** 2 + torch.fft.rfftfreq(size) ** 2)
    in_ring = (k / (0.5 * 2**0.5) * bins).long().clamp(max=bins - 1) == ring
    assert spectrum[ring].item() == pytest.approx(math.log(power[in_ring].mean().item()))
    assert spectrum.shape == (bins,) and int(spectrum.argmax()) == ring
    # blur takes power from the high rings: white noise against its 3x3 average
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(8, 1, 32, 32, generator=g)
    blurred = torch.nn.functional.avg_pool2d(noise, 3, stride=1, padding=1)
    white, smooth = radial_log_spectrum(noise), radial_log_spectrum(blurred)
    assert (white.max() - white.min()) < 1.0 and smooth[-1] < white[-1] - 2.0  # flat (up to few-sample rings)
    with pytest.raises(ValueError, match=r"images must be \(n, H, W\)"):
        radial_log_spectrum(torch.zeros(4, 16))


class BlurInstrument:
    """Candidates "sharp" (white noise) and "smooth" (the same noise averaged over 3x3); the unlabelled target
    "new_scanner" is noise averaged over 5x5: more blur than either, closer to "smooth"."""

    candidates = ["sharp", "smooth"]

    def pool(self, name, n, seed):
        x = torch.randn(n, 1, 32, 32, generator=make_generator(seed))
        width = {"sharp": 1, "smooth": 3, "new_scanner": 5}[name]
        return torch.nn.functional.avg_pool2d(x, width, stride=1, padding=width // 2)


def test_instrument_match_measures_the_experiment_that_looks_like_the_target_from_the_first_round():
    strategy = InstrumentMatchStrategy(target="new_scanner", pool_size=16)
    state = LoopState(0, ["sharp", "smooth"], {}, {}, None, BlurInstrument(), None, 0)
    assert strategy.choose(state, make_generator(0)) == "smooth"  # no model needed
    assert state.extra["scores"]["smooth"] > state.extra["scores"]["sharp"]
    assert all(v <= 0 for v in state.extra["scores"].values())
    for bad, message in (
        (dict(target=""), "target must name"),
        (dict(target="t", pool_size=0), "pool_size must be a positive integer"),
        (dict(target="t", bins=0), "bins must be a positive integer"),
    ):
        with pytest.raises(ValueError, match=message):
            InstrumentMatchStrategy(**bad)


def test_scm_instrument_pools_unlabelled_environments_but_does_not_measure_them():
    scm = SCM([("x", "y")], {"x": mech.Normal(0.0, 1.0), "y": mech.Function(lambda x: (x > 0).float())})
    instrument = SCMInstrument({"obs": scm}, x="x", y="y", unlabelled={"target": scm.do(x=3.0)})
    assert torch.equal(instrument.pool("target", 5, seed=0), torch.full((5,), 3.0))
    assert instrument.candidates == ["obs"]
    with pytest.raises(InstrumentError, match="unknown experiment 'target'"):
        instrument.measure("target", 5, seed=0)
    with pytest.raises(InstrumentError, match="unknown environment 'elsewhere' to pool"):
        instrument.pool("elsewhere", 5, seed=0)
    with pytest.raises(InstrumentError, match=r"\['obs'\] are both candidates and unlabelled pools"):
        SCMInstrument({"obs": scm}, x="x", y="y", unlabelled={"obs": scm})
