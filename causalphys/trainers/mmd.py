"""MMD feature alignment: a Gaussian-kernel maximum mean discrepancy between environments (Li et al. 2018)."""

from __future__ import annotations

from causalphys.trainers.alignment import FeatureAlignment
from causalphys.trainers.penalties import mmd_distance


class MMD(FeatureAlignment):
    """MMD: ``min mean_e R_e + lambda mean_{e < f} MMD^2(z_e, z_f)`` over the pairs of training environments.

    ``z_e = net_.features(x_e)`` ``(b_e, d)``; ``MMD^2`` is :func:`~causalphys.trainers.penalties.mmd_distance`, the
    biased estimate with a sum of Gaussian kernels ``exp(-g ||z - z'||^2)`` over DomainBed's bandwidths
    ``g in {1e-3, ..., 1e3}``. The head is applied to the same features. DomainBed's ``mmd_gamma`` is
    ``penalty_weight`` here (default 1, constant from the start: ``penalty_anneal_steps`` default 0); see
    :class:`~causalphys.trainers.annealed.AnnealedPenaltyTrainer` for the schedule and the rescaling when
    ``penalty_weight > 1``.
    """

    distance = staticmethod(mmd_distance)
