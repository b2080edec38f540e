"""Instrument randomisation and counterfactual invariance (causalphys.trainers.physics) on small seeded problems
where the answer is known: a feature that is the label in the factual data and pure instrument in the views."""

import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.nets import MLP
from causalphys.trainers import ERM, CheckpointError, CounterfactualInvariance, DataError, InstrumentRandomization
from causalphys.trainers.physics import view_variance


def _problem(n=400, k=3, seed=0):
    """Two features: ``content`` predicts the label 80 % of the time in every view; ``instrument`` equals the label
    in the factual data (the training lab routes by label) but is redrawn at random in each view."""
    g = torch.Generator().manual_seed(seed)
    envs, views = {}, {}
    for e in ("a", "b"):
        y = torch.randint(0, 2, (n,), generator=g)
        content = torch.where(torch.rand(n, generator=g) < 0.8, 2.0 * y - 1, 1 - 2.0 * y) + 0.5 * torch.randn(
            n, generator=g
        )
        factual = torch.stack([content, 2.0 * y - 1], 1)
        shots = [torch.stack([content, torch.randn(n, generator=g).sign()], 1) for _ in range(k)]
        envs[e] = (factual, y)
        views[e] = (torch.stack(shots, 1), y)
    return envs, views


def _reversed(envs):
    """Test data where the instrument feature says the opposite of the label."""
    x, y = envs["a"]
    return torch.stack([x[:, 0], 1 - 2.0 * y], 1), y


def _accuracy(trainer, x, y):
    return (trainer.predict(x).argmax(1) == y).float().mean().item()


SETTINGS = dict(lr=1e-2, batch_size=32, steps=150, progress=False, seed=0)


def test_randomisation_learns_the_content_not_the_instrument():
    envs, views = _problem()
    test = _reversed(envs)
    physics = InstrumentRandomization(**SETTINGS).fit(MLP(2, 2, hidden=(16,)), envs, views=views)
    erm = ERM(**SETTINGS).fit(MLP(2, 2, hidden=(16,)), envs)
    assert _accuracy(erm, *test) < 0.2  # ERM reads the instrument and is reversed with it
    assert _accuracy(physics, *test) > 0.75  # the content's 80 %, minus a little


def test_the_penalty_is_zero_for_identical_views_and_grows_with_disagreement():
    same = torch.randn(5, 1, 3).expand(5, 4, 3)
    assert view_variance(same, "classification").item() == 0.0
    assert view_variance(torch.randn(5, 1, 3), "classification").item() == 0.0  # one view: nothing to compare
    apart = torch.tensor([[[4.0, -4.0], [-4.0, 4.0]]])  # two views, opposite confident predictions
    gap = 2 * torch.sigmoid(torch.tensor(8.0)).item() - 1  # p(class 0) in view 1 minus in view 2
    assert view_variance(apart, "classification").item() == pytest.approx(2 * (gap / 2) ** 2)
    one_output = torch.tensor([[[3.0], [-3.0]]])
    assert view_variance(one_output, "classification").item() > 0.3
    assert view_variance(torch.tensor([[[1.0], [3.0]]]), "regression").item() == pytest.approx(1.0)


def test_identical_views_give_no_penalty_in_training():
    envs, _ = _problem()
    views = {e: (x[:, None].expand(-1, 3, -1).clone(), y) for e, (x, y) in envs.items()}
    trainer = CounterfactualInvariance(penalty_weight=100.0, **SETTINGS).fit(MLP(2, 2, hidden=(8,)), envs, views=views)
    assert all(h["penalty"] < 1e-12 for h in trainer.history_)


def test_counterfactual_invariance_reduces_the_views_disagreement():
    envs, views = _problem()
    test = _reversed(envs)
    settings = {**SETTINGS, "steps": 150}
    loose = CounterfactualInvariance(penalty_weight=0.0, **settings).fit(MLP(2, 2, hidden=(16,)), envs, views=views)
    tight = CounterfactualInvariance(penalty_weight=30.0, **settings).fit(MLP(2, 2, hidden=(16,)), envs, views=views)
    x, _ = views["a"]
    disagreement = [view_variance(t.predict(x.reshape(-1, 2)).reshape(len(x), -1, 2), "classification").item()
                    for t in (loose, tight)]  # fmt: skip
    assert disagreement[1] < 0.5 * disagreement[0]
    assert _accuracy(tight, *test) > 0.75


def test_same_seed_same_numbers():
    envs, views = _problem()
    a = CounterfactualInvariance(**{**SETTINGS, "steps": 10}).fit(MLP(2, 2, hidden=(8,)), envs, views=views)
    b = CounterfactualInvariance(**{**SETTINGS, "steps": 10}).fit(MLP(2, 2, hidden=(8,)), envs, views=views)
    c = CounterfactualInvariance(**{**SETTINGS, "steps": 10, "seed": 1}).fit(MLP(2, 2, hidden=(8,)), envs, views=views)
    assert a.history_ == b.history_ and a.history_ != c.history_


@pytest.mark.parametrize(
    "views, message",
    [
        (None, "trains on labelled views of its training units"),
        ({"a": "x"}, r"no views for training environment\(s\) \['b'\]"),
        ("wrong", "views must map environment names"),
    ],
)
def test_missing_or_malformed_views_are_named(views, message):
    envs, _ = _problem(n=20)
    with pytest.raises((DataError, TypeError), match=message):
        InstrumentRandomization(**SETTINGS).fit(MLP(2, 2, hidden=(8,)), envs, views=views)


def test_view_shapes_and_counts_are_checked():
    envs, views = _problem(n=20)
    bad = {**views, "b": (views["b"][0][:, :, :1], views["b"][1])}
    with pytest.raises(DataError, match=r"views of 'b': x must be \(m, k, \*input_shape\) with input shape \(2,\)"):
        InstrumentRandomization(**SETTINGS).fit(MLP(2, 2, hidden=(8,)), envs, views=bad)
    with pytest.raises(DataError, match="views_per_step=4, but the views of 'a' have only 3 per unit"):
        InstrumentRandomization(views_per_step=4, **SETTINGS).fit(MLP(2, 2, hidden=(8,)), envs, views=views)
    with pytest.raises(ParameterError, match="views_per_step must be >= 2"):
        CounterfactualInvariance(views_per_step=1)


def test_a_resume_on_other_views_is_refused(tmp_path):
    envs, views = _problem(n=40)
    settings = {**SETTINGS, "steps": 4, "checkpoint_every": 2, "checkpoint_dir": tmp_path}
    InstrumentRandomization(**settings).fit(MLP(2, 2, hidden=(8,)), envs, views=views)
    _, other = _problem(n=40, seed=1)
    other = {e: (other[e][0], views[e][1]) for e in views}
    with pytest.raises(CheckpointError, match="other data"):
        InstrumentRandomization(**{**settings, "steps": 6}).fit(MLP(2, 2, hidden=(8,)), envs, views=other)
