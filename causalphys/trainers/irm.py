"""Invariant risk minimisation, IRMv1 (Arjovsky et al. 2019)."""

from __future__ import annotations

import torch

from causalphys.trainers.annealed import AnnealedPenaltyTrainer
from causalphys.trainers.base import Minibatch
from causalphys.trainers.penalties import irmv1_penalty


class IRM(AnnealedPenaltyTrainer):
    """IRMv1: ``min mean_e R_e(f) + lambda_t mean_e (d/dw R_e(w f) at w = 1)^2``.

    The penalty of environment ``e`` is the squared gradient of its risk with respect to a dummy scale ``w = 1.0``
    multiplying the net's outputs (:func:`~causalphys.trainers.penalties.irmv1_penalty`); it is zero when the
    outputs cannot be improved in any environment by rescaling them, i.e. when the same classifier is optimal in
    every environment. Works with the binary logistic loss (one output), cross-entropy and squared error.
    Annealing of ``lambda_t``, loss rescaling and the optimizer restart: see
    :class:`~causalphys.trainers.annealed.AnnealedPenaltyTrainer` (``penalty_weight`` default 100,
    ``penalty_anneal_steps`` default 100).
    """

    def penalty(
        self, outputs: list[torch.Tensor], batches: list[Minibatch], risks: torch.Tensor, features: list[torch.Tensor]
    ) -> torch.Tensor:
        return torch.stack([irmv1_penalty(out, y, self.task_loss) for out, (_, y) in zip(outputs, batches)]).mean()
