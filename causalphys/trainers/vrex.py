"""Variance risk extrapolation, V-REx (Krueger et al. 2021)."""

from __future__ import annotations

import torch

from causalphys.trainers.annealed import AnnealedPenaltyTrainer
from causalphys.trainers.base import Minibatch
from causalphys.trainers.penalties import risk_variance


class VREx(AnnealedPenaltyTrainer):
    """V-REx: ``min mean_e R_e + lambda_t Var_e(R_e)`` with the population variance of the ``(E,)`` risks.

    Equalising the environments' risks pushes the net away from features whose predictive power differs between
    environments (:func:`~causalphys.trainers.penalties.risk_variance`). Annealing of ``lambda_t``, loss rescaling
    and the optimizer restart: see :class:`~causalphys.trainers.annealed.AnnealedPenaltyTrainer`
    (``penalty_weight`` default 100, ``penalty_anneal_steps`` default 100).
    """

    def penalty(
        self, outputs: list[torch.Tensor], batches: list[Minibatch], risks: torch.Tensor, features: list[torch.Tensor]
    ) -> torch.Tensor:
        return risk_variance(risks)
