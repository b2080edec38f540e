import pytest
import torch

from causalphys.nets import MLP, SmallCNN, reinitialize
from causalphys.seeding import derive_seed
from causalphys.trainers import ERM, DataError, NotFittedError
from causalphys.trainers.losses import accuracy, task_loss

from .data import regression, same_weights, separable


def test_erm_separates_a_linearly_separable_two_environment_problem():
    envs = separable()
    trainer = ERM(lr=2e-2, batch_size=32, steps=200, progress=False).fit(MLP(5, 2, hidden=(32,)), envs)
    for x, y in envs.values():
        assert accuracy(trainer.predict(x), y) > 0.95
    assert [h["step"] for h in trainer.history_] == list(range(200)) and trainer.step_ == 200
    assert trainer.history_[-1]["loss"] < trainer.history_[0]["loss"]


def test_same_seed_gives_bit_identical_weights_and_different_seed_differs():
    envs = separable(n=50)

    def fit(seed, global_seed):
        torch.manual_seed(global_seed)  # the net's constructor draws from the global RNG; fit re-draws from seed
        net = MLP(5, 2, hidden=(16,), dropout=0.3)
        return ERM(batch_size=8, steps=20, seed=seed, progress=False).fit(net, envs)

    a, b, c = fit(0, 1), fit(0, 2), fit(1, 1)
    assert same_weights(a.net_, b.net_) and a.history_ == b.history_
    assert not same_weights(a.net_, c.net_)


def test_fit_leaves_the_global_rng_state_alone():
    net = MLP(5, 2, hidden=(8,), dropout=0.5)
    state = torch.get_rng_state()
    ERM(batch_size=8, steps=5, progress=False).fit(net, separable(n=20))
    assert torch.equal(torch.get_rng_state(), state)


def test_erm_loss_is_the_mean_over_the_pooled_environments():
    envs = separable(n=30)
    trainer = ERM(batch_size=None, steps=1, progress=False).fit(MLP(5, 2, hidden=(8,)), envs)
    start = reinitialize(MLP(5, 2, hidden=(8,)), derive_seed(0, "init"))
    x, y = torch.cat([x for x, _ in envs.values()]), torch.cat([y for _, y in envs.values()])
    with torch.no_grad():
        expected = task_loss(start(x), y, "classification").item()
    assert trainer.history_[0]["loss"] == pytest.approx(expected, rel=1e-6)


def test_steps_zero_keeps_the_seeded_initial_weights_and_reset_net_false_keeps_the_given_ones():
    net = MLP(5, 2, hidden=(8,))
    ERM(steps=0, progress=False).fit(net, separable(n=10))
    assert same_weights(net, reinitialize(MLP(5, 2, hidden=(8,)), derive_seed(0, "init")))
    own = MLP(5, 2, hidden=(8,))
    kept = [p.detach().clone() for p in own.parameters()]
    ERM(steps=0, reset_net=False, progress=False).fit(own, separable(n=10))
    assert all(torch.equal(p, q) for p, q in zip(own.parameters(), kept))


def test_binary_classification_with_one_logit():
    envs = separable()
    trainer = ERM(lr=3e-2, batch_size=None, steps=80, progress=False).fit(MLP(5, 1, hidden=(16,)), envs)
    out = trainer.predict(envs["env0"][0])
    assert out.shape == (200, 1) and accuracy(out, envs["env0"][1]) > 0.95


@pytest.mark.parametrize("k", [1, 2])
def test_regression_with_one_or_several_targets(k):
    envs = regression(k=k)
    trainer = ERM(lr=0.1, batch_size=None, steps=150, task="regression", progress=False)
    trainer.fit(MLP(3, k, hidden=()), envs)
    assert trainer.history_[-1]["loss"] < 0.05 * trainer.history_[0]["loss"]
    assert trainer.predict(envs["env1"][0]).shape == (64, k)


def test_small_cnn_trains_on_images():
    g = torch.Generator().manual_seed(0)
    envs = {e: (torch.randn(6, 2, 12, 12, generator=g), torch.arange(6) % 3) for e in ("a", "b")}
    trainer = ERM(batch_size=4, steps=2, progress=False).fit(SmallCNN(2, 3, width=8), envs)
    assert trainer.predict(envs["a"][0]).shape == (6, 3)


def test_predict_is_batched_in_eval_mode_and_checks_its_input():
    envs = separable(n=40)
    net = MLP(5, 2, hidden=(8,), dropout=0.5)
    trainer = ERM(steps=3, batch_size=8, progress=False).fit(net, envs)
    x = envs["env1"][0]
    net.eval()
    with torch.no_grad():
        expected = net(x)
    net.train()
    assert torch.allclose(trainer.predict(x, batch_size=7), expected, atol=1e-6)
    assert net.training  # predict restores the mode
    with pytest.raises(DataError, match=r"per-sample shape \(4,\).*trained on \(5,\)"):
        trainer.predict(torch.zeros(3, 4))
    with pytest.raises(NotFittedError, match="fit"):
        ERM().predict(x)
