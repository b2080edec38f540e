"""Deep CORAL: align the environments' feature means and covariances (Sun and Saenko 2016)."""

from __future__ import annotations

from causalphys.trainers.alignment import FeatureAlignment
from causalphys.trainers.penalties import coral_distance


class CORAL(FeatureAlignment):
    """CORAL: ``min mean_e R_e + lambda mean_{e < f} D(z_e, z_f)`` over the pairs of training environments.

    ``z_e = net_.features(x_e)`` ``(b_e, d)`` and ``D`` is :func:`~causalphys.trainers.penalties.coral_distance`:
    the squared distance of the feature means plus the squared Frobenius distance of the feature covariances,
    averaged over their entries (DomainBed's ``CORAL``, i.e. its MMD with ``gaussian=False``). The head is applied
    to the same features. DomainBed's ``mmd_gamma`` is ``penalty_weight`` here (default 1, constant from the start:
    ``penalty_anneal_steps`` default 0); see :class:`~causalphys.trainers.annealed.AnnealedPenaltyTrainer` for the
    schedule and the rescaling when ``penalty_weight > 1``. Minibatches need at least 2 samples per environment.
    """

    distance = staticmethod(coral_distance)
