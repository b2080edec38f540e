"""Learners for the experiment loop: refit from scratch on everything measured so far.

A learner answers ``fit(data, seed) -> model``: ``data`` is ``{candidate: (x, y)}`` (one environment per
experiment, so invariant learners see the experiments as environments) and the model has ``predict(x)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.trainers.base import Trainer


class TrainerLearner:
    """A causalphys trainer on a fresh net each time.

    ``trainer``: ``seed -> Trainer`` (e.g. ``lambda s: cp.trainers.ERM(steps=300, seed=s)``); ``net``:
    ``(input_shape, n_outputs) -> nn.Module`` (e.g. ``net_factory(SmallCNN, width=16)``); ``n_outputs``: the
    classes (or regression outputs), fixed up front because an early round may not have seen every class.
    ``until_enough``: ``seed -> Trainer`` fitted while fewer experiments are measured than ``trainer`` needs
    environments (its ``min_envs``; e.g. ERM with the same settings before a penalty has two environments to
    compare — for V-REx the same objective, the variance of one risk being 0); ``None``: such a round raises.
    """

    def __init__(
        self,
        trainer: Callable[[int], Trainer],
        net: Callable[[tuple[int, ...], int], nn.Module],
        n_outputs: int,
        name: str = "trainer",
        until_enough: Callable[[int], Trainer] | None = None,
    ):
        self.trainer, self.net, self.name = trainer, net, name
        self.n_outputs = checks.positive_int("n_outputs", n_outputs)
        self.until_enough = until_enough

    def fit(self, data: Mapping[str, tuple[torch.Tensor, torch.Tensor]], seed: int) -> Trainer:
        if not data:
            raise ParameterError("TrainerLearner.fit needs measured data; got none")
        trainer = self.trainer(seed)
        needed = trainer.min_envs
        if len(data) < needed and self.until_enough is not None:
            trainer = self.until_enough(seed)
        elif len(data) < needed:
            raise ParameterError(
                f"{type(trainer).__name__} needs at least {needed} environments, but only {list(data)} were "
                "measured so far: give the strategy a warm-up of that many rounds, or the learner an until_enough "
                "trainer"
            )
        x = next(iter(data.values()))[0]
        return trainer.fit(self.net(tuple(x.shape[1:]), self.n_outputs), dict(data))

    def __repr__(self) -> str:
        extra = "" if self.until_enough is None else ", until_enough"
        return f"TrainerLearner({self.name}, n_outputs={self.n_outputs}{extra})"
