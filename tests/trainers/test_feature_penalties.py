"""Fishr, CORAL, MMD and IB-IRM: their penalties against brute-force and hand computations, and their trainers."""

import functools

import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.nets import MLP
from causalphys.trainers import CORAL, IBIRM, MMD, DataError, Fishr
from causalphys.trainers.checkpoint import read_checkpoint
from causalphys.trainers.fishr import ema_variances
from causalphys.trainers.losses import task_loss
from causalphys.trainers.penalties import (
    coral_distance,
    feature_variance,
    gradient_variance,
    mmd_distance,
    pairwise_mean,
    per_sample_gradients,
    variance_distance,
)

from .data import same_weights, separable

NEW = [Fishr, CORAL, MMD, IBIRM]


def _brute_force_fishr(head, features, labels, loss):
    """Loop over samples: ``torch.autograd.grad`` per sample, centred variances, squared distance to their mean."""
    variances = []
    for z, y in zip(features, labels):
        grads = []
        for i in range(len(z)):
            g = torch.autograd.grad(loss(head(z[i : i + 1]), y[i : i + 1]), list(head.parameters()))
            grads.append(torch.cat([t.reshape(-1) for t in g]))
        grads = torch.stack(grads)
        variances.append(((grads - grads.mean(0)) ** 2).mean(0))
    mean = sum(variances) / len(variances)
    return sum(((v - mean) ** 2).mean() for v in variances) / len(variances)


@pytest.mark.parametrize("task, k", [("classification", 3), ("classification", 1), ("regression", 2)])
def test_fishr_penalty_equals_a_brute_force_per_sample_gradient_computation(task, k):
    g = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(4, k).double()
    features = [torch.randn(n, 4, generator=g, dtype=torch.float64) for n in (5, 7, 6)]
    if task == "classification":
        labels = [torch.randint(0, max(k, 2), (len(z),), generator=g) for z in features]
    else:
        labels = [torch.randn(len(z), k, generator=g, dtype=torch.float64) for z in features]
    loss = functools.partial(task_loss, task=task)
    ours = variance_distance(
        torch.stack([gradient_variance(per_sample_gradients(head, z, y, loss)) for z, y in zip(features, labels)])
    )
    assert ours.item() > 0
    assert ours.item() == pytest.approx(_brute_force_fishr(head, features, labels, loss).item(), abs=1e-6, rel=1e-6)


def test_fishr_penalty_trains_the_features_and_its_trainer_uses_the_head_of_the_net():
    torch.manual_seed(0)
    net = MLP(3, 2, hidden=(4,)).double()
    envs = separable(n=6, d=3, n_envs=2)
    batches = [(x.double(), y) for x, y in envs.values()]
    trainer = Fishr(ema=0.0, progress=False)
    trainer.net_ = net
    trainer.prepare(list(envs))
    features = [net.features(x) for x, _ in batches]
    loss = functools.partial(task_loss, task="classification")
    penalty = trainer.penalty([net.head(z) for z in features], batches, torch.zeros(2), features)
    assert penalty.item() == pytest.approx(_brute_force_fishr(net.classifier, features, [y for _, y in batches], loss))
    grads = torch.autograd.grad(penalty, list(net.body.parameters()))
    assert any(g.abs().sum() > 0 for g in grads)


def test_the_moving_average_of_the_variances_follows_domainbed():
    v1, v2 = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 0.0]])
    used, state = ema_variances(torch.zeros(1, 2), v1, 0.9)
    assert torch.allclose(used, v1) and torch.allclose(state, 0.1 * v1)  # 1 / (1 - ema) correction
    used, state = ema_variances(state, v2, 0.9)
    assert torch.allclose(state, 0.9 * 0.1 * v1 + 0.1 * v2) and torch.allclose(used, state / 0.1)


def test_fishr_checkpoint_round_trips_the_moving_average(tmp_path):
    trainer = Fishr(penalty_anneal_steps=1, batch_size=8, steps=3, progress=False)
    trainer.fit(MLP(5, 2, hidden=(8,)), separable(n=20))
    assert trainer.ema_.shape == (2, 8 * 2 + 2) and trainer.ema_.abs().sum() > 0
    path = trainer.save(tmp_path / "fishr.pt")
    assert torch.equal(read_checkpoint(path)["extra"]["ema"], trainer.ema_)  # read with weights_only=True
    loaded = Fishr(progress=False).load(path, net=MLP(5, 2, hidden=(8,)))
    assert torch.equal(loaded.ema_, trainer.ema_)


def test_a_fishr_run_resumed_midway_matches_an_uninterrupted_one(tmp_path):
    envs = separable(n=20)
    settings = {"penalty_anneal_steps": 2, "batch_size": 8, "progress": False}
    full = Fishr(steps=4, **settings).fit(MLP(5, 2, hidden=(8,)), envs)
    resumable = {"checkpoint_every": 1, "checkpoint_dir": tmp_path, **settings}
    Fishr(steps=2, **resumable).fit(MLP(5, 2, hidden=(8,)), envs)
    resumed = Fishr(steps=4, **resumable).fit(MLP(5, 2, hidden=(8,)), envs)
    assert same_weights(full.net_, resumed.net_) and full.history_ == resumed.history_
    assert torch.equal(full.ema_, resumed.ema_)


def test_fishr_refuses_an_ema_outside_the_unit_interval():
    with pytest.raises(ParameterError, match="Fishr ema"):
        Fishr(ema=1.0)


def test_coral_distance_is_zero_for_identical_distributions_and_matches_a_hand_computation():
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert coral_distance(z, z).item() == 0.0
    assert coral_distance(z, z[torch.randperm(6, generator=torch.Generator().manual_seed(1))]).item() < 1e-20
    # a: points (0, 0), (2, 0): mean (1, 0), covariance [[2, 0], [0, 0]]; b: (1, 1), (1, 3): mean (1, 2), cov [[0, 0],
    # [0, 2]]. Mean term: (0 + 4) / 2 = 2; covariance term: (4 + 0 + 0 + 4) / 4 = 2.
    a = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[1.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    assert coral_distance(a, b).item() == pytest.approx(4.0, rel=1e-12)
    assert pairwise_mean([a, b, a], coral_distance).item() == pytest.approx((4.0 + 0.0 + 4.0) / 3, rel=1e-12)


def test_mmd_is_zero_for_identical_inputs_and_positive_for_shifted_ones():
    z = torch.randn(8, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert mmd_distance(z, z).item() == pytest.approx(0.0, abs=1e-12)
    assert mmd_distance(z, z + 0.5).item() > 1e-3
    assert mmd_distance(z, z + 0.5).item() < mmd_distance(z, z + 2.0).item()
    assert pairwise_mean([z, z.clone(), z], mmd_distance).item() == pytest.approx(0.0, abs=1e-12)


def test_the_information_bottleneck_term_is_the_mean_feature_variance():
    z = torch.tensor([[1.0, 0.0], [3.0, 0.0], [5.0, 3.0]], dtype=torch.float64)
    # variances (unbiased): feature 0: 4, feature 1: 3
    assert feature_variance(z).item() == pytest.approx(3.5, rel=1e-12)


def test_ibirm_adds_the_annealed_mean_feature_variance_to_irm():
    envs = separable(n=12, d=5)
    settings = dict(
        penalty_weight=10.0,
        penalty_anneal_steps=1,
        ib_penalty_weight=3.0,
        ib_anneal_steps=2,
        batch_size=None,
        progress=False,
    )
    trainer = IBIRM(steps=0, **settings).fit(MLP(5, 2, hidden=(8,)), envs)
    batches = list(envs.values())
    features = [trainer.net_.features(x) for x, _ in batches]
    extra = trainer.extra_terms([], batches, torch.zeros(2), features)
    expected = sum(z.var(dim=0).mean() for z in features) / 2
    assert extra["ib_penalty"][0] == 0.0 and extra["ib_penalty"][1].item() == pytest.approx(expected.item())
    run = IBIRM(steps=4, **settings).fit(MLP(5, 2, hidden=(8,)), envs)
    assert [h["ib_penalty_weight"] for h in run.history_] == [0.0, 0.0, 3.0, 3.0]
    for h in run.history_:
        w = h["penalty_weight"]
        total = h["risk"] + w * h["penalty"] + h["ib_penalty_weight"] * h["ib_penalty"]
        assert h["loss"] == pytest.approx(total / max(w, 1.0), rel=1e-5)
    # Adam was rebuilt at steps 1 and 2, so it has seen only steps 2 and 3.
    assert all(int(s["step"]) == 2 for s in run.optimizer_.state.values())


@pytest.mark.parametrize("cls", [CORAL, MMD])
def test_feature_alignment_applies_a_constant_weight_from_the_start(cls):
    trainer = cls(penalty_weight=0.5, batch_size=8, steps=3, progress=False).fit(MLP(5, 2, hidden=(8,)), separable())
    for h in trainer.history_:
        assert h["penalty_weight"] == 0.5 and h["penalty"] > 0
        assert h["loss"] == pytest.approx(h["risk"] + 0.5 * h["penalty"], rel=1e-5)


@pytest.mark.parametrize("cls", NEW)
def test_a_single_training_environment_is_refused(cls):
    with pytest.raises(DataError, match=f"{cls.__name__} needs at least 2 training environments"):
        cls(steps=1, progress=False).fit(MLP(5, 2, hidden=(8,)), separable(n=10, n_envs=1))


def test_the_summed_fishr_distance_is_the_mean_times_environments_times_parameters():
    variances = torch.rand(3, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mean, total = variance_distance(variances), variance_distance(variances, "sum")
    assert mean.item() > 0 and total.item() == pytest.approx(3 * 7 * mean.item())
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', got 'max'"):
        variance_distance(variances, "max")
    with pytest.raises(ParameterError, match="Fishr reduction"):
        Fishr(reduction="max")
    net = MLP(3, 2, hidden=(4,)).double()
    batches = [(x.double(), y) for x, y in separable(n=6, d=3, n_envs=2).values()]
    features = [net.features(x) for x, _ in batches]
    penalties = []
    for reduction in ("mean", "sum"):
        trainer = Fishr(ema=0.0, reduction=reduction, progress=False)
        trainer.net_ = net
        trainer.prepare(["a", "b"])
        penalties.append(trainer.penalty([net.head(z) for z in features], batches, torch.zeros(2), features).item())
    n_head = sum(p.numel() for p in net.classifier.parameters())
    assert penalties[1] == pytest.approx(2 * n_head * penalties[0])


@pytest.mark.parametrize("task, k", [("classification", 3), ("classification", 1), ("regression", 2)])
def test_the_linear_head_shortcut_equals_the_vmap_per_sample_gradients(task, k):
    g = torch.Generator().manual_seed(3)
    head = torch.nn.Linear(4, k).double()
    z = torch.randn(9, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, max(k, 2), (9,), generator=g) if task == "classification" else torch.randn(9, k, generator=g)
    loss = functools.partial(task_loss, task=task)
    fast = per_sample_gradients(head, z, y.double() if task == "regression" else y, loss)
    generic = per_sample_gradients(torch.nn.Sequential(head), z, y.double() if task == "regression" else y, loss)
    assert fast.shape == generic.shape == (9, 4 * k + k)
    assert torch.allclose(fast, generic, atol=1e-12)
    # and they train the features alike
    (d_fast,) = torch.autograd.grad(fast.pow(2).sum(), z, retain_graph=True)
    (d_generic,) = torch.autograd.grad(generic.pow(2).sum(), z)
    assert torch.allclose(d_fast, d_generic, atol=1e-12)


def test_the_blockwise_kernel_mean_equals_the_whole_matrix_in_value_and_gradient():
    from causalphys.trainers.penalties import kernel_mean

    g = torch.Generator().manual_seed(5)
    za = torch.randn(37, 3, generator=g, dtype=torch.float64, requires_grad=True)
    zb = torch.randn(23, 3, generator=g, dtype=torch.float64, requires_grad=True)
    whole = kernel_mean(za, zb)
    blocks = kernel_mean(za, zb, block_entries=100)  # blocks of 4 rows of za
    assert blocks.item() == pytest.approx(whole.item(), rel=1e-12)
    grads_whole = torch.autograd.grad(whole, [za, zb])
    grads_blocks = torch.autograd.grad(blocks, [za, zb])
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(grads_whole, grads_blocks))
