"""evaluate_run: every split and metric as a tidy row; holdout; counterfactual rows; determinism; bad input."""

import pytest
import torch

from causalphys.data.benchmark import BenchmarkData, EnvironmentInfo
from causalphys.errors import ParameterError
from causalphys.evaluation.harness import evaluate_run, net_factory, split_test
from causalphys.nets import MLP, SmallCNN
from causalphys.trainers import ERM

from .tiny import severity, tiny_benchmark


def _rows(data, holdout=None, seed=0, **trainer):
    make_net = net_factory(SmallCNN, width=8, strides=(2, 2, 1, 1))
    erm = ERM(steps=5, batch_size=8, seed=seed, progress=False, **trainer)
    return evaluate_run(data, erm, make_net, run="r", trainer_name="erm", seed=seed, holdout=holdout)


@pytest.fixture(scope="module")
def data():
    return tiny_benchmark([severity()]).load(0)


def test_rows_cover_every_environment_split_and_metric(data):
    rows = _rows(data)
    keys = {(r["env"], r["split"], r["metric"]) for r in rows}
    for env in ("train_a", "train_b"):
        assert {(env, s, m) for s in ("train", "val") for m in ("accuracy", "nll", "ece")} <= keys
        assert (env, "val", "cf_flip_rate") in keys
    for env in ("test", "severity=0", "severity=1"):
        assert {(env, s, "accuracy") for s in ("test", "test_val")} <= keys
    assert ("all", "train", "seconds") in keys
    assert all(r["selection"] == "none" and r["run"] == "r" for r in rows)
    assert all(0.0 <= r["value"] <= 1.0 for r in rows if r["metric"] in ("accuracy", "cf_flip_rate", "ece"))


def test_same_seed_same_rows(data):
    def strip(rows):
        return [(r["env"], r["split"], r["metric"], r["value"]) for r in rows if r["metric"] != "seconds"]

    assert strip(_rows(data)) == strip(_rows(data))


def test_holdout_environment_is_not_trained_on_and_gets_its_own_split(data):
    rows = _rows(data, holdout="train_b")
    splits = {(r["env"], r["split"]) for r in rows}
    assert ("train_b", "holdout") in splits and ("train_b", "train") not in splits and ("train_a", "val") in splits
    with pytest.raises(ParameterError, match="holdout must be one of the training environments"):
        _rows(data, holdout="test")


def test_test_split_is_seeded_and_disjoint():
    x, y = torch.arange(50.0).view(50, 1), torch.arange(50)
    (xt, yt), (xv, yv) = split_test(x, y, 0, "e")
    assert len(yt) == 40 and len(yv) == 10 and set(yt.tolist()).isdisjoint(yv.tolist())
    assert torch.equal(split_test(x, y, 0, "e")[1][1], yv) and not torch.equal(split_test(x, y, 1, "e")[1][1], yv)


def test_task_mismatch_and_wrong_net_input_are_named(data):
    with pytest.raises(ParameterError, match="task 'regression' does not match"):
        _rows(data, task="regression")
    flat = BenchmarkData(
        {"a": (torch.zeros(4, 3), torch.zeros(4).long())},
        {"a": (torch.zeros(2, 3), torch.zeros(2).long())},
        {},
        {"a": EnvironmentInfo("train")},
    )
    with pytest.raises(ParameterError, match=r"takes images \(c, h, w\), but the inputs are \(3,\)"):
        net_factory(SmallCNN)(flat.input_shape, 2)
    assert net_factory(MLP, hidden=(4,))(flat.input_shape, 2)(torch.zeros(2, 3)).shape == (2, 2)


def test_benchmark_data_rejects_inconsistent_environments():
    xy = (torch.zeros(4, 3), torch.zeros(4).long())
    info = {"a": EnvironmentInfo("train"), "b": EnvironmentInfo("test")}
    with pytest.raises(ParameterError, match="different input shapes"):
        BenchmarkData({"a": xy}, {"a": xy}, {"b": (torch.zeros(4, 5), xy[1])}, info)
    with pytest.raises(ParameterError, match="both training and test"):
        BenchmarkData({"a": xy}, {"a": xy}, {"a": xy}, info)
    with pytest.raises(ParameterError, match="role must be one of"):
        EnvironmentInfo("validation")


def test_a_pair_learner_gets_the_benchmarks_reimaged_pairs():
    from causalphys.trainers.content_style import ContentStyle

    data = tiny_benchmark(n_pairs=10).load(0)
    assert set(data.pairs) == {"train_a", "train_b"}
    a, b = data.pairs["train_a"]
    assert a.shape == b.shape == (10, 1, 32, 32) and not torch.equal(a, b)
    learner = ContentStyle(steps=4, encoder_steps=2, pair_batch_size=8, batch_size=8, progress=False)
    make_net = net_factory(SmallCNN, width=8, strides=(2, 2, 1, 1))
    rows = evaluate_run(data, learner, make_net, run="r", trainer_name="content_style", seed=0)
    assert {r["metric"] for r in rows} >= {"accuracy", "cf_flip_rate"}
    assert len(learner.history_) == 4 and "contrastive" in learner.history_[0] and "risk" in learner.history_[-1]
    no_pairs = tiny_benchmark().load(0)
    assert no_pairs.pairs == {}
    with pytest.raises(ParameterError, match="made none"):
        evaluate_run(no_pairs, learner, make_net, run="r", trainer_name="content_style", seed=0)


def test_a_representation_learner_is_not_scored_as_a_predictor():
    from causalphys.trainers import IVAE

    with pytest.raises(ParameterError, match="learns a representation"):
        evaluate_run(
            tiny_benchmark().load(0),
            IVAE(steps=1, progress=False),
            net_factory(MLP),
            run="r",
            trainer_name="ivae",
            seed=0,
        )
