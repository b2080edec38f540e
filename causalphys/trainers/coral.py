"""Deep CORAL: align the environments' feature means and covariances (Sun and Saenko 2016)."""

from __future__ import annotations

import torch

from causalphys.trainers.annealed import AnnealedPenaltyTrainer
from causalphys.trainers.base import Batch
from causalphys.trainers.penalties import coral_distance, pairwise_mean


class CORAL(AnnealedPenaltyTrainer):
    """CORAL: ``min mean_e R_e + lambda mean_{e < f} D(z_e, z_f)`` over the pairs of training environments.

    ``z_e = net_.features(x_e)`` ``(b_e, d)`` and ``D`` is :func:`~causalphys.trainers.penalties.coral_distance`:
    the squared distance of the feature means plus the squared Frobenius distance of the feature covariances,
    averaged over their entries (DomainBed's ``CORAL``, i.e. its MMD with ``gaussian=False``). The head is applied
    to the same features. DomainBed's ``mmd_gamma`` is ``penalty_weight`` here (default 1, constant from the start:
    ``penalty_anneal_steps`` default 0); see :class:`~causalphys.trainers.annealed.AnnealedPenaltyTrainer` for the
    schedule and the rescaling when ``penalty_weight > 1``. Minibatches need at least 2 samples per environment.
    """

    def __init__(self, penalty_weight: float = 1.0, penalty_anneal_steps: int = 0, **kwargs):
        super().__init__(penalty_weight=penalty_weight, penalty_anneal_steps=penalty_anneal_steps, **kwargs)

    def penalty(
        self, outputs: list[torch.Tensor], batches: list[Batch], risks: torch.Tensor, features: list[torch.Tensor]
    ) -> torch.Tensor:
        return pairwise_mean(features, coral_distance)
