"""The base of the trainers whose objective is ``mean risk + lambda_t * penalty`` with an annealed ``lambda_t``."""

from __future__ import annotations

import abc
import warnings

import torch

from causalphys import checks
from causalphys.trainers.base import FUSE_ROWS, Minibatch, Trainer
from causalphys.trainers.schedule import annealed_weight


class AnnealedPenaltyTrainer(Trainer):
    """Minimise ``L_t = (mean_e R_e + lambda_t P) / max(lambda_t, 1)`` over the training environments ``e``.

    ``R_e`` is environment ``e``'s mean task loss on its minibatch and ``P`` the method's penalty (see
    :meth:`penalty`). ``lambda_t = 1`` for steps ``t < penalty_anneal_steps`` and ``penalty_weight`` from then on
    (:func:`~causalphys.trainers.schedule.annealed_weight`); dividing by ``lambda_t`` when it exceeds 1 keeps the
    gradients' scale (the IRM reference implementation's recipe), and with ``restart_optimizer`` (default, as
    DomainBed does) Adam is rebuilt at ``t = penalty_anneal_steps``: its moment estimates belong to the
    unpenalised objective. The reference script keeps its optimizer (``restart_optimizer=False``).

    Hyper-parameters: ``penalty_weight`` (``>= 0``), ``penalty_anneal_steps`` (``>= 0``), ``restart_optimizer``
    and those of
    :class:`~causalphys.trainers.base.Trainer`. Metrics per step: ``loss`` (``L_t``, the objective minimised),
    ``risk`` (``mean_e R_e``), ``penalty`` (``P``) and ``penalty_weight`` (``lambda_t``).

    Hooks for subclasses: :meth:`penalty` (required) sees each environment's outputs and features; :meth:`forward`
    computes them; :meth:`extra_terms` adds further weighted terms ``sum_k mu_k Q_k`` to the objective (inside the
    rescaling: ``L_t = (mean_e R_e + lambda_t P + sum_k mu_k Q_k) / max(lambda_t, 1)``) and :meth:`restart_steps`
    names the steps at which Adam is rebuilt.
    """

    min_envs = 2

    def __init__(
        self,
        penalty_weight: float = 100.0,
        penalty_anneal_steps: int = 100,
        restart_optimizer: bool = True,
        **kwargs,
    ):
        owner = type(self).__name__
        self.penalty_weight = checks.nonnegative_float(f"{owner} penalty_weight", penalty_weight)
        self.penalty_anneal_steps = checks.nonnegative_int(f"{owner} penalty_anneal_steps", penalty_anneal_steps)
        self.restart_optimizer = checks.boolean(f"{owner} restart_optimizer", restart_optimizer)
        super().__init__(**kwargs)

    def prepare(self, env_names: list[object]) -> None:
        """Warn when the run ends before the penalty reaches its weight (``steps <= penalty_anneal_steps`` with
        ``penalty_weight != 1``): such a run is mostly its warm-up, not the method it is named after."""
        super().prepare(env_names)
        if self.steps <= self.penalty_anneal_steps and self.penalty_weight != 1.0:
            warnings.warn(
                f"{type(self).__name__}: steps={self.steps} end before penalty_anneal_steps={self.penalty_anneal_steps}"
                f", so the penalty never reaches penalty_weight={self.penalty_weight:g} (lambda stays 1): the run "
                "measures the warm-up, not the method; give more steps or a shorter penalty_anneal_steps",
                UserWarning,
                stacklevel=3,
            )

    @abc.abstractmethod
    def penalty(
        self, outputs: list[torch.Tensor], batches: list[Minibatch], risks: torch.Tensor, features: list[torch.Tensor]
    ) -> torch.Tensor:
        """The penalty ``P`` (0-d) from each environment's outputs ``(b_e, k)``, its batch, the risks ``(E,)`` and
        its features ``(b_e, d)`` (``net_.features(x)``, from which the outputs were computed)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(outputs, features)`` of the pooled minibatch ``x``: ``z = net_.features(x)`` ``(n, d)`` and
        ``net_.head(z)`` ``(n, k)``, one pass through the net."""
        features = self.net_.features(x)
        return self.net_.head(features), features

    def extra_terms(
        self, outputs: list[torch.Tensor], batches: list[Minibatch], risks: torch.Tensor, features: list[torch.Tensor]
    ) -> dict[str, tuple[float, torch.Tensor]]:
        """Further terms of the objective, ``name -> (weight mu_k, 0-d term Q_k)``; none by default. Each is reported
        as the metrics ``name`` and ``name + "_weight"``."""
        return {}

    def restart_steps(self) -> set[int]:
        """The steps at which Adam is rebuilt when ``restart_optimizer``: ``{penalty_anneal_steps}``."""
        return {self.penalty_anneal_steps}

    def update(self, batches: list[Minibatch]) -> dict[str, float]:
        sizes = [len(x) for x, _ in batches]
        if sum(sizes) <= FUSE_ROWS:  # one pass over the pooled minibatch: fastest for small batches
            all_outputs, all_features = self.forward(torch.cat([x for x, _ in batches]))
            outputs, features = list(all_outputs.split(sizes)), list(all_features.split(sizes))
        else:  # large (e.g. full) batches: one pass per environment, no pooled copy of the inputs kept for backward
            outputs, features = (list(t) for t in zip(*(self.forward(x) for x, _ in batches)))
        risks = torch.stack([self.task_loss(out, y) for out, (_, y) in zip(outputs, batches)])
        penalty = self.penalty(outputs, batches, risks, features)
        weight = annealed_weight(self.step_, self.penalty_weight, self.penalty_anneal_steps)
        risk = risks.mean()
        loss = self.regularized(risk) + weight * penalty
        metrics = {"risk": risk.item(), "penalty": penalty.item(), "penalty_weight": weight}
        for name, (mu, term) in self.extra_terms(outputs, batches, risks, features).items():
            loss = loss + mu * term
            metrics |= {name: term.item(), f"{name}_weight": mu}
        if weight > 1.0:
            loss = loss / weight
        if self.restart_optimizer and self.step_ in self.restart_steps():
            self.optimizer_ = self.build_optimizer(self.net_.parameters())
        self.optimizer_step(loss)
        return {"loss": loss.item(), **metrics}
