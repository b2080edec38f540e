"""The IRMv1, V-REx and GroupDRO trainers and their penalties, checked against hand-made analytic cases."""

import functools
import math
import warnings

import pytest
import torch

from causalphys.nets import MLP
from causalphys.trainers import ERM, IRM, DataError, GroupDRO, VREx
from causalphys.trainers.checkpoint import read_checkpoint
from causalphys.trainers.groupdro import update_group_weights
from causalphys.trainers.losses import accuracy, task_loss
from causalphys.trainers.penalties import irmv1_penalty, risk_variance

from .data import regression, same_weights, separable

LOGISTIC = functools.partial(task_loss, task="classification")
LOG3 = math.log(3.0)


def _calibrated_env(groups):
    """Logits ``(n, 1)`` and labels ``(n,)``, float64: for each ``(logit, positives, negatives)`` group the label
    frequency is exactly ``sigmoid(logit)``, so the logits are the true log-odds (the optimal classifier)."""
    z, y = [], []
    for logit, pos, neg in groups:
        z += [logit] * (pos + neg)
        y += [1] * pos + [0] * neg
    return torch.tensor(z, dtype=torch.float64)[:, None], torch.tensor(y)


# Two environments whose label frequencies differ, but where the same logits are the true log-odds in both.
ENVS_OPTIMAL = [
    _calibrated_env([(LOG3, 3, 1), (0.0, 1, 1)]),
    _calibrated_env([(-LOG3, 1, 3), (LOG3, 6, 2), (0.0, 2, 2)]),
]


def test_irmv1_penalty_is_zero_at_a_classifier_optimal_in_every_environment_and_positive_otherwise():
    for z, y in ENVS_OPTIMAL:
        assert irmv1_penalty(z, y, LOGISTIC).item() == pytest.approx(0.0, abs=1e-10)
        assert irmv1_penalty(2.0 * z, y, LOGISTIC).item() > 1e-3  # over-confident
        assert irmv1_penalty(0.5 * z, y, LOGISTIC).item() > 1e-3  # under-confident
        assert irmv1_penalty(z + 0.5, y, LOGISTIC).item() > 1e-4  # shifted


def test_irmv1_penalty_is_zero_for_true_class_log_probabilities_and_conditional_means():
    # Cross-entropy: 4 samples share logits log(p) with p = (1/2, 1/4, 1/4) and labels 0, 0, 1, 2.
    logits = torch.log(torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64)).expand(4, 3)
    labels = torch.tensor([0, 0, 1, 2])
    ce = functools.partial(task_loss, task="classification")
    assert irmv1_penalty(logits, labels, ce).item() == pytest.approx(0.0, abs=1e-10)
    assert irmv1_penalty(3.0 * logits, labels, ce).item() > 1e-3
    # Squared error: the outputs are the group means of the targets.
    mse = functools.partial(task_loss, task="regression")
    out = torch.tensor([[1.0], [1.0], [-2.0], [-2.0]], dtype=torch.float64)
    target = torch.tensor([0.5, 1.5, -1.0, -3.0], dtype=torch.float64)
    assert irmv1_penalty(out, target, mse).item() == pytest.approx(0.0, abs=1e-10)
    assert irmv1_penalty(out + 1.0, target, mse).item() > 1e-3


def test_irmv1_penalty_equals_the_hand_computed_squared_gradient_and_is_differentiable():
    z = torch.tensor([[0.5], [-1.0], [2.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1, 0, 0])
    # d/dw mean_i BCE(w z_i, y_i) at w = 1 is mean_i (sigmoid(z_i) - y_i) z_i.
    sig = [1 / (1 + math.exp(-v)) for v in (0.5, -1.0, 2.0)]
    grad = ((sig[0] - 1) * 0.5 + sig[1] * -1.0 + sig[2] * 2.0) / 3
    penalty = irmv1_penalty(z, y, LOGISTIC)
    assert penalty.item() == pytest.approx(grad**2, rel=1e-12)
    (dz,) = torch.autograd.grad(penalty, [z])  # create_graph=True lets the penalty train the net
    assert torch.isfinite(dz).all() and dz.abs().sum() > 0


def test_risk_variance_is_the_population_variance_of_the_risks():
    risks = torch.tensor([0.3, 1.2, 0.7, 2.5], dtype=torch.float64)
    assert risk_variance(risks).item() == pytest.approx(torch.var(risks, unbiased=False).item(), rel=1e-12)
    assert risk_variance(torch.full((3,), 0.4)).item() == 0.0


def test_group_weights_move_toward_the_environment_with_the_larger_loss():
    q = torch.full((3,), 1 / 3, dtype=torch.float64)
    risks = torch.tensor([0.2, 1.5, 0.2], dtype=torch.float64, requires_grad=True)
    new = update_group_weights(q, risks, eta=0.1)
    assert not new.requires_grad and new.sum().item() == pytest.approx(1.0)
    assert new[1] > 1 / 3 > new[0] and new[0] == new[2]
    expected = torch.exp(0.1 * risks.detach()) / torch.exp(0.1 * risks.detach()).sum()
    assert torch.allclose(new, expected)


def _easy_and_noisy(n=100):
    x, y = separable(n=n, d=5, n_envs=1)["env0"]
    g = torch.Generator().manual_seed(1)
    return {"easy": (x, y), "noisy": (x, torch.randint(0, 2, (n,), generator=g))}


def test_groupdro_upweights_the_harder_environment_and_its_checkpoint_round_trips_q(tmp_path):
    trainer = GroupDRO(eta=0.1, lr=1e-2, batch_size=32, steps=30, progress=False)
    trainer.fit(MLP(5, 2, hidden=(8,)), _easy_and_noisy())
    assert trainer.q_.shape == (2,) and trainer.q_.sum().item() == pytest.approx(1.0)
    assert trainer.q_[1] > 0.5 > trainer.q_[0]
    path = trainer.save(tmp_path / "dro.pt")
    assert torch.equal(read_checkpoint(path)["extra"]["q"], trainer.q_)  # read with weights_only=True
    loaded = GroupDRO(eta=0.1, progress=False).load(path, net=MLP(5, 2, hidden=(8,)))
    assert torch.equal(loaded.q_, trainer.q_)


def test_groupdro_starts_from_uniform_weights_and_its_loss_is_the_weighted_risk():
    trainer = GroupDRO(eta=0.0, batch_size=None, steps=1, progress=False).fit(MLP(5, 2), _easy_and_noisy())
    assert torch.equal(trainer.q_, torch.full((2,), 0.5))
    assert trainer.history_[0]["loss"] == pytest.approx(trainer.history_[0]["risk"], rel=1e-6)


@pytest.mark.parametrize("cls", [IRM, VREx, GroupDRO])
def test_a_single_training_environment_is_refused(cls):
    with pytest.raises(DataError, match=f"{cls.__name__} needs at least 2 training environments"):
        cls(steps=1, progress=False).fit(MLP(5, 2, hidden=(8,)), separable(n=10, n_envs=1))


@pytest.mark.parametrize("cls", [IRM, VREx])
def test_the_penalty_is_annealed_the_loss_rescaled_and_adam_restarted(cls):
    trainer = cls(penalty_weight=50.0, penalty_anneal_steps=3, batch_size=None, steps=5, progress=False)
    trainer.fit(MLP(5, 2, hidden=(8,)), separable(n=30))
    assert [h["penalty_weight"] for h in trainer.history_] == [1.0, 1.0, 1.0, 50.0, 50.0]
    for h in trainer.history_:
        w = h["penalty_weight"]
        assert h["loss"] == pytest.approx((h["risk"] + w * h["penalty"]) / max(w, 1.0), rel=1e-5)
        assert h["penalty"] >= 0
    # Adam was rebuilt at step 3, so its state has seen only steps 3 and 4.
    assert all(int(s["step"]) == 2 for s in trainer.optimizer_.state.values())


@pytest.mark.parametrize("cls", [IRM, VREx])
def test_penalty_trainers_handle_multi_class_and_regression(cls):
    multi = {k: (x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()) for k, (x, _) in separable(n=30).items()}
    trainer = cls(penalty_anneal_steps=1, batch_size=16, steps=3, progress=False).fit(MLP(5, 3, hidden=(8,)), multi)
    assert all(math.isfinite(h["loss"]) for h in trainer.history_)
    trainer = cls(penalty_anneal_steps=1, batch_size=16, steps=3, task="regression", progress=False)
    trainer.fit(MLP(3, 1, hidden=(8,)), regression())
    assert all(math.isfinite(h["loss"]) for h in trainer.history_)


def _spurious(n=500, seed=0):
    """``y`` in {0, 1}, ``s = 2y - 1``; features ``(s + N(0, 1), mu_e s + N(0, 1))``: the first is invariant, the
    second spurious, stronger than the first in environment a (``mu = 3``), weaker in b (``mu = 1``) and reversed
    in the test environment (``mu = -2``)."""
    g = torch.Generator().manual_seed(seed)
    envs = {}
    for name, mu in [("a", 3.0), ("b", 1.0), ("test", -2.0)]:
        y = torch.randint(0, 2, (n,), generator=g)
        s = 2.0 * y - 1
        envs[name] = (torch.stack([s + torch.randn(n, generator=g), mu * s + torch.randn(n, generator=g)], 1), y)
    return envs


def test_vrex_relies_less_on_a_spurious_feature_than_erm():
    envs = _spurious()
    train = {k: envs[k] for k in ("a", "b")}
    settings = {"lr": 0.05, "batch_size": None, "steps": 400, "progress": False}
    erm = ERM(**settings).fit(MLP(2, 1, hidden=()), train)
    vrex = VREx(penalty_weight=1000.0, penalty_anneal_steps=100, **settings).fit(MLP(2, 1, hidden=()), train)
    w_erm, w_vrex = (t.net_.classifier.weight.detach()[0] for t in (erm, vrex))
    assert w_erm[1] > 0.8 * w_erm[0]  # ERM leans on the spurious feature as much as on the invariant one
    assert abs(w_vrex[1]) < 0.2 * w_vrex[0]  # V-REx nearly drops it
    x, y = envs["test"]
    assert accuracy(erm.predict(x), y) < 0.4 < 0.7 < accuracy(vrex.predict(x), y)


@pytest.mark.parametrize(
    "cls, kwargs", [(IRM, {"penalty_anneal_steps": 4}), (VREx, {"penalty_anneal_steps": 4}), (GroupDRO, {"eta": 0.1})]
)
def test_a_run_resumed_across_the_penalty_switch_matches_an_uninterrupted_one(cls, kwargs, tmp_path):
    envs = separable(n=40)
    settings = {"batch_size": 8, "progress": False, **kwargs}
    full = cls(steps=8, **settings).fit(MLP(5, 2, hidden=(8,)), envs)
    resumable = {"checkpoint_every": 1, "checkpoint_dir": tmp_path, **settings}
    cls(steps=4, **resumable).fit(MLP(5, 2, hidden=(8,)), envs)  # interrupted right at the switch (step 4)
    resumed = cls(steps=8, **resumable).fit(MLP(5, 2, hidden=(8,)), envs)
    assert same_weights(full.net_, resumed.net_) and full.history_ == resumed.history_
    if cls is GroupDRO:
        assert torch.equal(full.q_, resumed.q_)


@pytest.mark.parametrize("cls", [IRM, VREx])
def test_the_reference_scripts_optimizer_is_kept_when_asked(cls):
    trainer = cls(
        penalty_weight=50.0, penalty_anneal_steps=3, restart_optimizer=False, batch_size=None, steps=5, progress=False
    )
    trainer.fit(MLP(5, 1, hidden=(8,)), separable())
    assert all(int(s["step"]) == 5 for s in trainer.optimizer_.state.values())


def test_l2_adds_the_squared_weights_not_the_biases():
    data = separable()
    plain = ERM(batch_size=None, steps=1, progress=False).fit(MLP(5, 1, hidden=(8,)), data)
    reg = ERM(batch_size=None, steps=1, l2=0.5, progress=False).fit(MLP(5, 1, hidden=(8,)), data)
    norm = sum(p.detach().pow(2).sum() for p in MLP(5, 1, hidden=(8,)).parameters() if p.dim() > 1)
    assert norm > 0
    # same seed, same initial weights: the first step's objective differs by exactly l2 * ||W||^2 at the start
    start = ERM(batch_size=None, steps=0, progress=False).fit(MLP(5, 1, hidden=(8,)), data).net_
    start_norm = sum(p.detach().pow(2).sum() for p in start.parameters() if p.dim() > 1).item()
    assert reg.history_[0]["loss"] == pytest.approx(plain.history_[0]["loss"] + 0.5 * start_norm, rel=1e-6)


def test_a_run_that_ends_before_the_penalty_is_annealed_in_warns():
    """IRM at steps=20 with penalty_anneal_steps=100 gave ERM's accuracies to the digit in a newcomer's sweep: it
    is named now (a warning: the warm-up may be what a test wants to run)."""
    envs = separable(n=16, d=4, n_envs=2)
    with pytest.warns(UserWarning, match=r"steps=5 end before penalty_anneal_steps=100"):
        IRM(steps=5, penalty_anneal_steps=100, progress=False).fit(MLP(4, 2, hidden=(4,)), envs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        IRM(steps=5, penalty_anneal_steps=2, progress=False).fit(MLP(4, 2, hidden=(4,)), envs)
