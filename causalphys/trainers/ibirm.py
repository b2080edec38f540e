"""Information-bottleneck IRM, IB-IRM (Ahuja et al. 2021)."""

from __future__ import annotations

import torch

from causalphys import checks
from causalphys.trainers.base import Minibatch
from causalphys.trainers.irm import IRM
from causalphys.trainers.penalties import feature_variance
from causalphys.trainers.schedule import annealed_weight


class IBIRM(IRM):
    """IB-IRM: IRMv1 plus an information bottleneck, ``min mean_e R_e + lambda_t P_IRM + mu_t mean_e IB_e``.

    ``P_IRM`` is IRMv1's penalty (:class:`~causalphys.trainers.irm.IRM`) with its weight ``lambda_t``
    (``penalty_weight``, ``penalty_anneal_steps``). ``IB_e`` is :func:`~causalphys.trainers.penalties.feature_variance`
    of environment ``e``'s features ``net_.features(x_e)`` ``(b_e, d)``: the mean over the ``d`` features of their
    variance, which IB-IRM shrinks so that the net keeps only the features it needs. Its weight is
    ``mu_t = 0`` for steps ``t < ib_anneal_steps`` and ``ib_penalty_weight`` from then on (DomainBed's ``ib_lambda``
    and ``ib_penalty_anneal_iters``). The whole objective is divided by ``max(lambda_t, 1)`` and, with
    ``restart_optimizer``, Adam is rebuilt when either weight switches on (see
    :class:`~causalphys.trainers.annealed.AnnealedPenaltyTrainer`). Metrics add ``ib_penalty`` and
    ``ib_penalty_weight``.
    """

    def __init__(self, ib_penalty_weight: float = 100.0, ib_anneal_steps: int = 500, **kwargs):
        owner = type(self).__name__
        self.ib_penalty_weight = checks.nonnegative_float(f"{owner} ib_penalty_weight", ib_penalty_weight)
        self.ib_anneal_steps = checks.nonnegative_int(f"{owner} ib_anneal_steps", ib_anneal_steps)
        super().__init__(**kwargs)

    def extra_terms(
        self, outputs: list[torch.Tensor], batches: list[Minibatch], risks: torch.Tensor, features: list[torch.Tensor]
    ) -> dict[str, tuple[float, torch.Tensor]]:
        weight = annealed_weight(self.step_, self.ib_penalty_weight, self.ib_anneal_steps, initial_weight=0.0)
        return {"ib_penalty": (weight, torch.stack([feature_variance(z) for z in features]).mean())}

    def restart_steps(self) -> set[int]:
        return super().restart_steps() | {self.ib_anneal_steps}
