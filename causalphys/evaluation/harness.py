"""One run of the harness: train a learner on a benchmark's training environments and measure it everywhere.

:func:`evaluate_run` is a plain function (no Hydra, no files): the Hydra entry point (:mod:`causalphys.run`) and
the tests call it alike. It returns tidy rows ``run, trainer, env, split, metric, value, selection`` with
``selection = "none"``; the selection rules (:mod:`causalphys.evaluation.selection`) choose among runs later, at
report time.

Splits: ``train`` and ``val`` for each training environment (its training and held-out parts); ``holdout`` for a
training environment left out of training (leave-one-environment-out selection); ``test`` and ``test_val`` for each
test environment — a fixed, seeded 80 / 20 split whose 20 % only the test-domain (oracle) rule may look at.
Counterfactual rows (``cf_flip_rate``, or ``cf_change`` for regression; split ``val``) measure how often the
prediction for a validation unit changes when the same unit is regenerated under another intervention (re-imaged by
the other scanner of its lab); they use no test-environment data.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable

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


def split_test(x: torch.Tensor, y: torch.Tensor, seed: int, env: str) -> tuple[tuple, tuple]:
    """``(test part, test_val part)``: a seeded permutation of the units, the first ``1 - TEST_VAL_FRACTION``
    for testing, the rest reserved for test-domain (oracle) selection."""
    order = torch.randperm(len(y), generator=make_generator(derive_seed(seed, "test_val", env)))
    cut = len(y) - max(1, int(round(TEST_VAL_FRACTION * len(y))))
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def _row(run: str, trainer: str, env: str, split: str, metric: str, value: float) -> dict:
    return {
        "run": run,
        "trainer": trainer,
        "env": env,
        "split": split,
        "metric": metric,
        "value": float(value),
        "selection": "none",
    }


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
    if getattr(trainer, "learns_representation", False):
        raise ParameterError(
            f"trainer {trainer_name!r} learns a representation (its predict gives latents, not predictions): score "
            "it against true latents (causalphys.evaluation.latents, experiments/crl/), or learn a predictor from "
            "it (content_style)"
        )
    train = {e: xy for e, xy in data.train.items() if e != holdout}
    net = make_net(data.input_shape, data.n_outputs)
    if getattr(trainer, "needs_pairs", False):
        pairs = {e: views for e, views in data.pairs.items() if e != holdout}
        if not pairs:
            raise ParameterError(
                f"trainer {trainer_name!r} learns from counterfactual pairs, but the benchmark made none "
                "(its yaml's data_setting: pairs sets the benchmark's n_pairs)"
            )
        trainer.fit(net, train, pairs=pairs)
    else:
        trainer.fit(net, train)
    score = metrics.classification_metrics if data.task == "classification" else metrics.regression_metrics
    rows = []

    def measure(env: str, split: str, x: torch.Tensor, y: torch.Tensor) -> None:
        for name, value in score(trainer.predict(x), y).items():
            rows.append(_row(run, trainer_name, env, split, name, value))

    for env in data.train:
        if env == holdout:
            measure(
                env,
                "holdout",
                torch.cat([data.train[env][0], data.val[env][0]]),
                torch.cat([data.train[env][1], data.val[env][1]]),
            )
            continue
        measure(env, "train", *data.train[env])
        measure(env, "val", *data.val[env])
    for env, (x, y) in data.test.items():
        test, test_val = split_test(x, y, seed, env)
        measure(env, "test", *test)
        measure(env, "test_val", *test_val)
    change = metrics.flip_rate if data.task == "classification" else metrics.change
    name = "cf_flip_rate" if data.task == "classification" else "cf_change"
    for env, views in data.counterfactual.items():
        rows.append(_row(run, trainer_name, env, "val", name, change(*(trainer.predict(v) for v in views))))
    rows.append(_row(run, trainer_name, "all", "train", "seconds", time.perf_counter() - started))
    return rows
