"""Dense (per-pixel) tasks: a U-Net's maps against target maps, through ERM, IRM and the physics learners."""

import pytest
import torch

from causalphys.nets import SmallCNN, UNet
from causalphys.trainers import ERM, IRM, CounterfactualInvariance, DataError, InstrumentRandomization, NetError
from causalphys.trainers.losses import task_loss


def spots(n, seed, blur=1.0, shift=0):
    """Images (n, 1, 16, 16) of random bright pixels blurred by ``blur``, and their maps (n, 1, 16, 16): the task is
    to mark where the spots are, whatever the blur (the "instrument")."""
    g = torch.Generator().manual_seed(seed)
    where = (torch.rand(n, 1, 16, 16, generator=g) < 0.05).float()
    where = torch.roll(where, shift, dims=-1)
    k = torch.arange(-3, 4, dtype=torch.float32)
    kernel = torch.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * blur**2))
    image = torch.nn.functional.conv2d(where, (kernel / kernel.max())[None, None], padding=3)
    return image + 0.05 * torch.randn(image.shape, generator=g), where


def test_unet_maps_keep_the_image_size_and_channels():
    net = UNet(1, 3, width=8, depth=2)
    for shape in ((16, 16), (21, 17)):
        x = torch.zeros(2, 1, *shape)
        assert net.features(x).shape == (2, 8, *shape) and net(x).shape == (2, 3, *shape)
    with pytest.raises(Exception, match="multiple of 8"):
        UNet(1, 2, width=12)


def test_erm_and_irm_learn_a_dense_task_and_predict_maps():
    envs = {"sharp": spots(64, 0, blur=0.7), "blurry": spots(64, 1, blur=1.5)}
    for trainer in (
        ERM(task="dense", steps=80, lr=5e-3, batch_size=8, seed=0),
        IRM(task="dense", steps=80, lr=5e-3, batch_size=8, seed=0, penalty_weight=1.0, penalty_anneal_steps=50),
    ):
        net = UNet(1, 1, width=8, depth=1)
        x, y = spots(32, 5, blur=1.0)
        before = task_loss(net(x).detach(), y, "dense").item()
        trainer.fit(net, envs)
        after = task_loss(trainer.predict(x), y, "dense").item()
        assert trainer.n_outputs_ == (1, 16, 16) and trainer.predict(x).shape == (32, 1, 16, 16)
        assert after < 0.3 * before  # learned, on a blur it never saw
    assert trainer.predict(x[:0]).shape == (0, 1, 16, 16)


def test_dense_targets_and_nets_are_checked():
    x, y = spots(8, 0)
    with pytest.raises(DataError, match=r"per-sample shape \(1, 8, 8\) but the net outputs \(1, 16, 16\)"):
        ERM(task="dense", steps=1).fit(UNet(1, 1, width=8, depth=1), {"e": (x, y[..., :8, :8])})
    with pytest.raises(DataError, match=r"dense targets y must be maps"):
        ERM(task="dense", steps=1).fit(UNet(1, 1, width=8, depth=1), {"e": (x, y.flatten(1)[:, :2])})
    with pytest.raises(NetError, match="maps"):
        ERM(task="dense", steps=1).fit(SmallCNN(1, 1, width=8), {"e": (x, y)})


def test_randomisation_scores_each_view_against_its_own_map_and_the_invariance_penalty_refuses_moved_targets():
    views_x, views_y = [], []
    for blur, shift in ((0.7, 0), (1.5, 1), (1.0, 2)):
        x, y = spots(32, 0, blur=blur, shift=shift)  # the same spots, another instrument: blurred and shifted
        views_x.append(x)
        views_y.append(y)
    views = {"lab": (torch.stack(views_x, 1), torch.stack(views_y, 1))}  # (m, k, 1, 16, 16) and (m, k, 1, 16, 16)
    envs = {"lab": (views_x[0], views_y[0])}
    trainer = InstrumentRandomization(task="dense", steps=120, lr=3e-3, batch_size=16, seed=0)
    trainer.fit(UNet(1, 1, width=8, depth=1), envs, views=views)
    test_x, test_y = spots(16, 9, blur=1.2, shift=1)
    assert task_loss(trainer.predict(test_x), test_y, "dense").item() < 0.05
    with pytest.raises(DataError, match="one target per view"):
        CounterfactualInvariance(task="dense", steps=1).fit(UNet(1, 1, width=8, depth=1), envs, views=views)
    with pytest.raises(DataError, match="3 views per unit but 2 targets"):
        InstrumentRandomization(task="dense", steps=1).fit(
            UNet(1, 1, width=8, depth=1), envs, views={"lab": (views["lab"][0], views["lab"][1][:, :2])}
        )
    # views that share one map per unit (an instrument that moves nothing): the penalty applies
    shared = {"lab": (views["lab"][0], views_y[0])}
    cf = CounterfactualInvariance(task="dense", steps=5, batch_size=8, seed=0)
    cf.fit(UNet(1, 1, width=8, depth=1), envs, views=shared)
    assert "penalty" in cf.history_[-1]


def test_a_dense_run_resumes_from_its_checkpoint(tmp_path):
    envs = {"e": spots(16, 0)}
    whole = ERM(task="dense", steps=6, batch_size=4, seed=0).fit(UNet(1, 1, width=8, depth=1), envs)
    first = ERM(task="dense", steps=3, batch_size=4, seed=0, checkpoint_every=3, checkpoint_dir=str(tmp_path))
    first.fit(UNet(1, 1, width=8, depth=1), envs)
    resumed = ERM(task="dense", steps=6, batch_size=4, seed=0, checkpoint_every=3, checkpoint_dir=str(tmp_path))
    resumed.fit(UNet(1, 1, width=8, depth=1), envs)
    x = envs["e"][0]
    assert resumed.n_outputs_ == (1, 16, 16) and torch.equal(resumed.predict(x), whole.predict(x))


def test_a_dense_net_maps_images_of_another_size_but_not_another_channel_count():
    trainer = ERM(task="dense", steps=2, batch_size=4, seed=0).fit(UNet(1, 1, width=8, depth=1), {"e": spots(8, 0)})
    assert trainer.predict(torch.zeros(2, 1, 24, 20)).shape == (2, 1, 24, 20)
    assert trainer.predict(torch.zeros(0, 1, 24, 20)).shape == (0, 1, 24, 20)
    with pytest.raises(DataError, match="1 channel"):
        trainer.predict(torch.zeros(2, 3, 24, 20))


def test_a_dense_checkpoint_loads_back_and_the_harness_loader_says_it_cannot_score_it_yet(tmp_path):
    from causalphys.evaluation.external import ExternalModelError, load_model

    trainer = ERM(task="dense", steps=2, batch_size=4, seed=0).fit(UNet(1, 1, width=8, depth=1), {"e": spots(8, 0)})
    path = trainer.save(tmp_path / "dense.pt")
    again = ERM(task="dense").load(path, UNet(1, 1, width=8, depth=1))
    x = spots(4, 3)[0]
    assert again.n_outputs_ == (1, 16, 16) and torch.equal(again.predict(x), trainer.predict(x))
    with pytest.raises(ExternalModelError, match=r"dense-task checkpoint \(per-sample outputs \(1, 16, 16\)\)"):
        load_model(path, net=UNet(1, 1, width=8, depth=1))


@pytest.mark.parametrize("name", ["CORAL", "MMD"])
def test_feature_alignment_refuses_a_dense_task_in_words(name):
    import causalphys.trainers as trainers
    from causalphys.errors import ParameterError

    with pytest.raises(ParameterError, match="feature vectors"):
        getattr(trainers, name)(task="dense")
