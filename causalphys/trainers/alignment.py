"""The base of the feature-alignment trainers (CORAL, MMD): a distance between every pair of environments'
features, penalised with a constant weight by default."""

from __future__ import annotations

from collections.abc import Callable

import torch

from causalphys.errors import ParameterError
from causalphys.trainers.annealed import AnnealedPenaltyTrainer
from causalphys.trainers.base import Minibatch
from causalphys.trainers.penalties import pairwise_mean


class FeatureAlignment(AnnealedPenaltyTrainer):
    """``min mean_e R_e + lambda mean_{e < f} distance(z_e, z_f)`` with ``z_e = net_.features(x_e)``.

    Subclasses set ``distance``. DomainBed's ``mmd_gamma`` is ``penalty_weight`` here (default 1, constant from the
    start: ``penalty_anneal_steps`` default 0).
    """

    distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def __init__(self, penalty_weight: float = 1.0, penalty_anneal_steps: int = 0, **kwargs):
        super().__init__(penalty_weight=penalty_weight, penalty_anneal_steps=penalty_anneal_steps, **kwargs)
        if self.task == "dense":
            raise ParameterError(
                f"{type(self).__name__} aligns feature vectors (n, d) between environments; a dense task's features "
                "are maps (n, d, h, w), which it does not take: use ERM, IRM, VREx, GroupDRO, Fishr or the physics "
                "learners"
            )

    def penalty(
        self, outputs: list[torch.Tensor], batches: list[Minibatch], risks: torch.Tensor, features: list[torch.Tensor]
    ) -> torch.Tensor:
        return pairwise_mean(features, type(self).distance)
