"""One run of the harness: train a learner on a benchmark's training environments and measure it everywhere.

:func:`evaluate_run` is a plain function (no Hydra, no files): the Hydra entry point (:mod:`causalphys.run`) and
the tests call it alike. It returns tidy rows ``run, trainer, env, split, metric, value, selection`` with
``selection = "none"``; the selection rules (:mod:`causalphys.evaluation.selection`) choose among runs later, at
report time. It fits, then :func:`measure` scores the fitted model's ``predict``; a model the harness did not train
is scored by the same :func:`measure` (:func:`causalphys.evaluation.external.score_model`), so the two compare
exactly.

Splits: ``train`` and ``val`` for each training environment (its training and held-out parts); ``holdout`` for a
training environment left out of training (leave-one-environment-out selection); ``test`` and ``test_val`` for each
test environment — a fixed, seeded 80 / 20 split whose 20 % only the test-domain (oracle) rule may look at.
Counterfactual rows (``cf_flip_rate``, or ``cf_change`` for regression) measure how often the prediction for a unit
changes when the same unit is regenerated under another intervention: split ``val`` for a training environment's
validation-like units (re-imaged by the other scanner of its lab; no test-environment data, so a selection rule may
use them), split ``test`` for a test environment's units against their source (recorded tiles and the same tiles
re-imaged by a worse instrument: no label needed).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import time
from collections.abc import Callable, Mapping

import torch
from torch import nn

from causalphys.data.benchmark import BenchmarkData
from causalphys.errors import ParameterError
from causalphys.evaluation import metrics
from causalphys.seeding import derive_seed, make_generator
from causalphys.trainers.base import Trainer

TEST_VAL_FRACTION = 0.2


def net_factory(constructor: Callable[..., nn.Module], **settings) -> Callable[[tuple[int, ...], int], nn.Module]:
    """``(input_shape, n_outputs) -> net`` for a net class such as :class:`~causalphys.nets.SmallCNN` (which asks
    for ``in_channels`` of images ``(c, h, w)``) or :class:`~causalphys.nets.MLP` (``in_features``: any shape)."""
    params = inspect.signature(constructor).parameters

    def build(input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
        if "in_channels" in params:
            if len(input_shape) != 3:
                raise ParameterError(
                    f"net {constructor.__name__} takes images (c, h, w), but the inputs are {tuple(input_shape)}"
                )
            return constructor(in_channels=input_shape[0], n_outputs=n_outputs, **settings)
        if "in_features" in params:
            return constructor(in_features=tuple(input_shape), n_outputs=n_outputs, **settings)
        raise ParameterError(f"net {constructor.__name__} takes neither in_channels nor in_features")

    return build


NET_SHAPE_KEYS = ("in_channels", "in_features", "n_outputs")
"""Keys of a net config that the data fill in (``???`` in ``conf/net/``): the rest are the net's settings."""


def import_object(path: str) -> object:
    """The object a dotted path names: ``"package.module.Name"`` (a config's ``_target_``) or
    ``"package.module:name"`` (an entry-point style reference; the part after ``:`` may be dotted)."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ParameterError(f"{path!r} names no object: expected 'package.module.Name' or 'package.module:name'")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as err:
        raise ParameterError(f"cannot import the module {module_name!r} of {path!r}: {err}") from err
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ParameterError(f"module {module_name!r} has no attribute {attr!r} (from {path!r})")
        obj = getattr(obj, part)
    return obj


def net_from_config(net_cfg: Mapping) -> Callable[[tuple[int, ...], int], nn.Module]:
    """:func:`net_factory` of a resolved ``conf/net/`` config (a plain dict with ``_target_``); the keys in
    :data:`NET_SHAPE_KEYS` come from the data, the others are the net's settings."""
    if "_target_" not in net_cfg:
        raise ParameterError(f"a net config needs a _target_ (conf/net/), got keys {sorted(net_cfg)}")
    constructor = import_object(str(net_cfg["_target_"]))
    settings = {k: v for k, v in net_cfg.items() if k != "_target_" and v != "???" and k not in NET_SHAPE_KEYS}
    return net_factory(constructor, **settings)


def split_test(x: torch.Tensor, y: torch.Tensor, seed: int, env: str) -> tuple[tuple, tuple]:
    """``(test part, test_val part)``: a seeded permutation of the units, the first ``1 - TEST_VAL_FRACTION``
    for testing, the rest reserved for test-domain (oracle) selection."""
    order = torch.randperm(len(y), generator=make_generator(derive_seed(seed, "test_val", env)))
    cut = len(y) - max(1, int(round(TEST_VAL_FRACTION * len(y))))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def environment_records(data: BenchmarkData) -> dict[str, dict]:
    """``{env: {"role", "shift", "level", "description", "units": {split: n}}}`` for a run's ``run.json``: what
    each environment is, and how many units each of its scored splits holds (``test`` and ``test_val`` as
    :func:`split_test` cuts them), so that a report can say how many units stand behind a number."""
    units: dict[str, dict[str, int]] = {}
    for env in data.train:
        units[env] = {"train": len(data.train[env][1]), "val": len(data.val[env][1])}
    for env, (_, y) in data.test.items():
        held = max(1, int(round(TEST_VAL_FRACTION * len(y))))
        units[env] = {"test": len(y) - held, "test_val": held}
    return {env: {**info.to_dict(), "units": units.get(env, {})} for env, info in data.info.items()}


def tidy_row(run: str, trainer: str, env: str, split: str, metric: str, value: float) -> dict:
    """One result row ``run, trainer, env, split, metric, value, selection`` (``selection = "none"``: the rules
    choose at report time)."""
    return {
        "run": run,
        "trainer": trainer,
        "env": env,
        "split": split,
        "metric": metric,
        "value": float(value),
        "selection": "none",
    }


def measure(
    data: BenchmarkData,
    predict: Callable[[torch.Tensor], torch.Tensor],
    *,
    run: str,
    trainer_name: str,
    seed: int,
    holdout: str | None = None,
) -> list[dict]:
    """The tidy rows of a model whose outputs are ``predict(x)``: ``x`` ``(n, *input_shape)`` -> logits ``(n, k)``
    (classification: ``accuracy``, ``nll``, ``ece``), predictions ``(n,)``/``(n, d)`` (regression: ``rmse``,
    ``r2``) or maps ``(n, K, H, W)`` (dense: ``mse``, and the benchmark's own map scores where it names them:
    :func:`~causalphys.evaluation.metrics.dense_metrics`), on every split of the
    module docstring, in this order: per training environment ``train`` and ``val`` (``holdout`` for the one left
    out), per test environment ``test`` and ``test_val`` (the seeded split of
    :func:`split_test`), then ``cf_flip_rate`` / ``cf_change`` of the counterfactual views (split ``val`` for a
    training environment, ``test`` for a test environment).

    The trained runs (:func:`evaluate_run`) and the models the harness did not train
    (:func:`causalphys.evaluation.external.score_model`) are both measured here, so their rows compare exactly.
    """
    if data.task == "classification":
        score = metrics.classification_metrics
    elif data.task == "dense":
        score = functools.partial(metrics.dense_metrics, map_metrics=data.map_metrics)
    else:
        score = metrics.regression_metrics
    rows = []

    def add(env: str, split: str, x: torch.Tensor, y: torch.Tensor) -> None:
        for name, value in score(predict(x), y).items():
            rows.append(tidy_row(run, trainer_name, env, split, name, value))

    for env in data.train:
        if env == holdout:
            add(
                env,
                "holdout",
                torch.cat([data.train[env][0], data.val[env][0]]),
                torch.cat([data.train[env][1], data.val[env][1]]),
            )
            continue
        add(env, "train", *data.train[env])
        add(env, "val", *data.val[env])
    for env, (x, y) in data.test.items():
        test, test_val = split_test(x, y, seed, env)
        add(env, "test", *test)
        add(env, "test_val", *test_val)
    change = metrics.flip_rate if data.task == "classification" else metrics.change
    name = "cf_flip_rate" if data.task == "classification" else "cf_change"
    for env, views in data.counterfactual.items():  # validation units of a training environment, or a test one's
        split = "val" if env in data.train else "test"
        rows.append(tidy_row(run, trainer_name, env, split, name, change(*(predict(v) for v in views))))
    return rows


def evaluate_run(
    data: BenchmarkData,
    trainer: Trainer,
    make_net: Callable[[tuple[int, ...], int], nn.Module],
    *,
    run: str,
    trainer_name: str,
    seed: int,
    holdout: str | None = None,
) -> list[dict]:
    """Fit ``trainer`` on ``data.train`` (without ``holdout``) with a net ``make_net(input_shape, n_outputs)``
    (see :func:`net_factory`) — a trainer with ``needs_pairs`` also gets ``data.pairs`` — then measure every split
    (module docstring).

    Returns the run's tidy rows, the last of which is its wall-clock ``seconds`` (env ``all``, split ``train``).
    """
    started = time.perf_counter()
    if holdout is not None and holdout not in data.train:
        raise ParameterError(f"holdout must be one of the training environments {list(data.train)}, got {holdout!r}")
    if trainer.task != data.task:
        raise ParameterError(f"trainer task {trainer.task!r} does not match the benchmark's task {data.task!r}")
    if trainer.learns_representation:
        raise ParameterError(
            f"trainer {trainer_name!r} learns a representation (its predict gives latents, not predictions): score "
            "it against true latents (causalphys.evaluation.latents, experiments/crl/), or learn a predictor from "
            "it (content_style)"
        )
    train = {e: xy for e, xy in data.train.items() if e != holdout}
    if not train:
        raise ParameterError(
            "the benchmark has no training environment to train on (it holds only test environments): score a "
            "trained model on it with causalphys evaluate"
        )
    net = make_net(data.input_shape, data.n_outputs)
    extra = {}  # what a pair or physics learner trains on beside the factual data
    kind = trainer.data_needs()
    if kind != "observed":
        extra[kind] = {e: v for e, v in getattr(data, kind).items() if e != holdout}
        if not extra[kind]:
            what = "learns from counterfactual pairs" if kind == "pairs" else "trains on labelled views"
            raise ParameterError(f"trainer {trainer_name!r} {what}, but the benchmark made none")
    trainer.fit(net, train, **extra)
    rows = measure(data, trainer.predict, run=run, trainer_name=trainer_name, seed=seed, holdout=holdout)
    rows.append(tidy_row(run, trainer_name, "all", "train", "seconds", time.perf_counter() - started))
    return rows
