"""Every trainer config in conf/trainer/ and every net config in conf/net/ instantiates and works."""

import inspect
import math
from pathlib import Path

import hydra
import pytest
import torch
from hydra.utils import get_class
from omegaconf import OmegaConf

from causalphys.nets import MLP
from causalphys.run import trainer_config
from causalphys.trainers.base import Trainer
from causalphys.trainers.search_space import SEARCH_SPACE_KEY, check_search_space, sample_search_space

from .data import same_weights, separable

CONF = Path(__file__).resolve().parents[2] / "conf"
TRAINERS = sorted(p for p in (CONF / "trainer").glob("*.yaml") if not p.stem.startswith("_"))  # _base: shared keys
NETS = sorted((CONF / "net").glob("*.yaml"))


def _composed(name):
    """``conf/trainer/<name>.yaml`` as a run composes it (its defaults list: ``_base`` and, for the physics
    learners, the prior of its views)."""
    return OmegaConf.create(trainer_config(name))


def _config(path):
    cfg = _composed(path.stem)
    space = cfg.pop(SEARCH_SPACE_KEY, None)
    cfg.pop("views", None)  # randomize.yaml, cf_invariance.yaml: what the benchmark makes (causalphys.run)
    return cfg, space


def _trainer(cfg, **overrides):
    settings = {"steps": 3, "batch_size": 8, "progress": False} | overrides
    trainer = hydra.utils.instantiate(cfg, **settings)
    assert isinstance(trainer, Trainer)
    return trainer


def _envs(trainer):
    return separable(n=16, d=4, n_envs=max(3, trainer.min_envs))


def _fit(trainer, envs):
    """``fit``, with counterfactual pairs (each unit and a perturbed copy) for a trainer that learns from them."""
    if trainer.needs_pairs:
        g = torch.Generator().manual_seed(0)
        pairs = {e: [x, x + 0.1 * torch.randn(x.shape, generator=g)] for e, (x, _) in envs.items()}
        return trainer.fit(MLP(4, 2, hidden=(8,)), envs, pairs=pairs)
    if trainer.needs_views:  # labelled views: each unit and two perturbed copies
        g = torch.Generator().manual_seed(0)
        views = {e: (torch.stack([x, *(x + 0.1 * torch.randn(x.shape, generator=g) for _ in range(2))], 1), y)
                 for e, (x, y) in envs.items()}  # fmt: skip
        return trainer.fit(MLP(4, 2, hidden=(8,)), envs, views=views)
    return trainer.fit(MLP(4, 2, hidden=(8,)), envs)


def test_there_are_configs():
    assert any(p.stem == "erm" for p in TRAINERS) and {p.stem for p in NETS} >= {"mlp", "small_cnn"}


@pytest.mark.parametrize("path", TRAINERS, ids=lambda p: p.stem)
def test_trainer_config_runs_deterministically_and_round_trips(path, tmp_path):
    cfg, space = _config(path)
    cls = get_class(cfg._target_)
    assert set(cfg) - {"_target_"} <= set(cls.param_names()), "every key must be a constructor argument"
    assert space, f"{path.name} needs a {SEARCH_SPACE_KEY} entry"
    check_search_space(OmegaConf.to_container(space), params=cls.param_names())
    _trainer(cfg, **sample_search_space(OmegaConf.to_container(space), seed=0))  # sampled values are accepted

    trainer = _trainer(cfg)
    envs = _envs(trainer)
    _fit(trainer, envs)
    assert len(trainer.history_) == 3
    assert all(math.isfinite(h["loss"]) for h in trainer.history_)

    twin = _fit(_trainer(cfg), envs)
    assert same_weights(trainer.net_, twin.net_)
    assert not same_weights(trainer.net_, _fit(_trainer(cfg, seed=1), envs).net_)

    path = trainer.save(tmp_path / "ckpt.pt")
    loaded = _trainer(cfg).load(path, net=MLP(4, 2, hidden=(8,)))
    x = envs["env0"][0]
    assert torch.equal(loaded.predict(x), trainer.predict(x))


@pytest.mark.parametrize("path", TRAINERS, ids=lambda p: p.stem)
def test_trainer_yaml_defaults_are_the_constructor_defaults(path):
    """A trainer yaml (with the shared _base.yaml) states every hyper-parameter of its class with the value its
    constructor would take anyway: `causalphys trainer=X` and `X()` are the same learner."""
    cfg, _ = _config(path)
    cls = get_class(cfg.pop("_target_"))
    defaults = {k: v for k, v in cls.param_defaults().items() if v is not inspect.Parameter.empty}
    given = OmegaConf.to_container(cfg)
    assert set(given) == set(defaults), f"{path.name}: keys {sorted(set(given) ^ set(defaults))} differ"
    for key, value in given.items():
        default = defaults[key]
        default = list(default) if isinstance(default, tuple) else default
        assert value == default and type(value) is type(default) or value == default and isinstance(value, float), (
            f"{path.name}: {key}={value!r}, the constructor's default is {defaults[key]!r}"
        )


def test_the_shared_trainer_keys_are_the_base_class_arguments():
    base = OmegaConf.to_container(OmegaConf.load(CONF / "trainer" / "_base.yaml"))
    signature = inspect.signature(Trainer)
    assert base == {k: p.default for k, p in signature.parameters.items()}


def test_a_trainer_declares_its_capabilities_on_the_class():
    for path in TRAINERS:
        cls = get_class(_config(path)[0]._target_)
        assert cls.data_needs() in ("observed", "pairs", "views")
        assert (cls.data_needs() == "views") == ("views" in _composed(path.stem)), path.name
    assert get_class("causalphys.trainers.content_style.ContentStyle").data_needs() == "pairs"


@pytest.mark.parametrize("path", NETS, ids=lambda p: p.stem)
def test_net_config_instantiates_with_the_data_dependent_keys(path):
    cfg = OmegaConf.load(path)
    data_keys = {"in_features": [2, 8, 8], "in_channels": 2, "n_outputs": 3}
    missing = {k for k in cfg if OmegaConf.is_missing(cfg, k)}
    assert missing and missing <= set(data_keys), f"{path.name}: unexpected mandatory keys {missing}"
    net = hydra.utils.instantiate(cfg, **{k: data_keys[k] for k in missing})
    x = torch.randn(4, 2, 8, 8)
    if cfg._target_.endswith(".UNet"):  # a dense net: one output map per channel, the input's size
        assert net(x).shape == (4, 3, 8, 8)
        return
    z = net.features(x)
    assert z.shape == (4, net.n_features) and net.head(z).shape == (4, 3)
