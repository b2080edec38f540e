"""The scanner-shift benchmark: shapes, seeds, the oracle setting and the counterfactual views."""

from pathlib import Path

import pytest
import torch

from causalphys.errors import ParameterError
from tests.evaluation.tiny import LABS, tiny_benchmark

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_scanner_shift_data_shapes_and_roles():
    data = tiny_benchmark().load(0)
    assert list(data.train) == ["train_a", "train_b"] and list(data.test) == ["test"]
    assert data.train["train_a"][0].shape == (48, 1, 32, 32) and data.val["train_a"][0].shape == (16, 1, 32, 32)
    assert data.test["test"][1].dtype == torch.long and data.n_outputs == 2
    assert data.info["train_a"].role == "train" and data.info["test"].role == "test"


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = tiny_benchmark().load(3), tiny_benchmark().load(3), tiny_benchmark().load(4)
    assert torch.equal(a.train["train_b"][0], b.train["train_b"][0])
    assert torch.equal(a.counterfactual["train_a"][1], b.counterfactual["train_a"][1])
    assert not torch.equal(a.train["train_b"][0], c.train["train_b"][0])


def test_counterfactual_views_are_the_same_samples_through_each_scanner():
    bench = tiny_benchmark()
    train_envs, _, _ = bench.environments()
    views = bench.counterfactual_views(train_envs, "train_a", seed=0)
    assert len(views) == 2 and views[0].shape == (12, 1, 32, 32)
    # the low-dose view is noisier: its pixel-to-pixel differences are larger, unit by unit
    rough = [(v[..., 1:] - v[..., :-1]).abs().mean((1, 2, 3)) for v in views]
    assert (rough[1] > rough[0]).float().mean() > 0.9


def test_oracle_cuts_the_scanner_label_path_in_the_training_labs_only():
    oracle = tiny_benchmark(oracle=True)
    train_envs, test_envs, _ = oracle.environments()
    batch = train_envs["train_a"].sample(4000, seed=0, nodes=["scanner", "label"])
    agree = (batch["scanner"] == batch["label"]).float().mean().item()
    assert abs(agree - 0.5) < 0.03
    test = test_envs["test"].sample(4000, seed=0, nodes=["scanner", "label"])
    assert abs((test["scanner"] == test["label"]).float().mean().item() - 0.1) < 0.03


@pytest.mark.parametrize(
    "change, message",
    [
        ({"train_a": {**LABS["train_a"], "role": "validation"}}, "labs.train_a.role"),
        ({"train_a": {**LABS["train_a"], "scanners": ["corrected_200kv", "x"]}}, r"unknown scanner\(s\) \['x'\]"),
        ({"train_a": {**LABS["train_a"], "colour": 1}}, r"unknown key\(s\) \['colour'\]"),
        ({"train_a": {**LABS["train_a"], "consistency": 1.5}}, "labs.train_a"),
    ],
)
def test_bad_labs_name_the_key(change, message):
    bench = tiny_benchmark()
    bench.labs = {**bench.labs, **change}
    with pytest.raises(ParameterError, match=message):
        bench.check()


@pytest.mark.parametrize("key, value", [("n_train", 0), ("label_noise", 0.7), ("task", "strain")])
def test_bad_sizes_and_settings_name_the_key(key, value):
    with pytest.raises(ParameterError, match=key):
        tiny_benchmark(**{key: value}).check()


def test_specimen_options_reach_the_scm_and_bad_ones_name_the_key():
    bench = tiny_benchmark(specimen={"lattice_spread": 0.0, "strain_std": 0.02, "rotation": [-0.01, 0.01]})
    train_envs, _, _ = bench.environments()
    b = train_envs["train_a"].sample(500, seed=0, nodes=["lattice_constant", "rotation", "strain_yy", "phase"])
    nominal = torch.where(b["phase"] == 0, 3.905, 3.16)
    assert torch.allclose(b["lattice_constant"], nominal.to(b["lattice_constant"].dtype))
    assert b["rotation"].abs().max() <= 0.01
    assert b["strain_yy"].std().item() == pytest.approx(0.02, rel=0.15)
    assert bench.load(0).train["train_a"][0].shape == (48, 1, 32, 32)
    with pytest.raises(ParameterError, match=r"benchmark.specimen: unknown key\(s\) \['colour'\]"):
        tiny_benchmark(specimen={"colour": 1}).check()
    with pytest.raises(ParameterError, match="benchmark.specimen: rotation must be a range"):
        tiny_benchmark(specimen={"rotation": [1.0, 0.0]}).check()


def test_a_class_seen_only_in_a_test_environment_fails_when_the_data_are_made():
    """Before: the net got the training labels' outputs and sklearn's metrics crashed after training."""
    from causalphys.data.benchmark import BenchmarkData, EnvironmentInfo

    x = torch.zeros(4, 3)
    train = {"a": (x, torch.tensor([0, 1, 0, 1]))}
    info = {"a": EnvironmentInfo("train"), "b": EnvironmentInfo("test")}
    with pytest.raises(ParameterError, match=r"class\(es\) \[2\] of test environment 'b' occur in no training"):
        BenchmarkData(train, train, {"b": (x, torch.tensor([0, 2, 1, 2]))}, info)


def _prior():
    from omegaconf import OmegaConf

    from causalphys.microscopy.scanners import ScannerPreset

    raw = OmegaConf.to_container(OmegaConf.load(CONF / "prior" / "physics.yaml"))
    raw.pop("_target_")
    return ScannerPreset(**raw)


def test_labelled_views_re_image_the_units_under_the_prior_and_leave_the_rest_unchanged():
    """Issue 20: each view unit is the same specimen (its label kept) under k instruments drawn from the physics
    prior; asking for views changes no other split (the prior preset is added after the configured scanners)."""
    plain = tiny_benchmark().load(0)
    with_views = tiny_benchmark(views={"source": "prior", "prior": _prior(), "per_unit": 3, "units": 20}).load(0)
    for split in ("train", "val", "test"):
        for env, (x, y) in getattr(plain, split).items():
            assert torch.equal(getattr(with_views, split)[env][0], x) and torch.equal(
                getattr(with_views, split)[env][1], y
            )
    assert set(with_views.views) == {"train_a", "train_b"} and not plain.views
    x, y = with_views.views["train_a"]
    assert x.shape == (20, 3, 1, 32, 32) and y.shape == (20,) and y.dtype == torch.long
    assert not torch.equal(x[:, 0], x[:, 1])  # a new instrument and session per view
    # the label no longer decides the instrument: both labels appear, and the views are standardised images
    assert set(y.tolist()) == {0, 1}
    assert x.mean(dim=(-1, -2)).abs().max() < 1e-4


def test_views_from_the_labs_own_scanners_and_bad_view_settings():
    data = tiny_benchmark(views={"source": "scanners", "units": 10}).load(0)
    assert data.views["train_b"][0].shape == (10, 2, 1, 32, 32)
    with pytest.raises(ParameterError, match="views.source=prior needs views.prior, a scanner preset"):
        tiny_benchmark(views={"source": "prior"}).check()
    with pytest.raises(ParameterError, match=r"benchmark.views: unknown key\(s\) \['k'\]"):
        tiny_benchmark(views={"source": "scanners", "k": 2}).check()
    with pytest.raises(ParameterError, match="benchmark.views.source must be 'prior' or 'scanners'"):
        tiny_benchmark(views={"source": "lab"}).check()
    bench = tiny_benchmark(views={"source": "prior", "prior": _prior(), "per_unit": 4})
    assert bench.data_bytes() > tiny_benchmark().data_bytes() + 2 * 4 * 48 * 32 * 32 * 4 - 1  # the views counted
