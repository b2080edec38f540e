"""Fishr: invariance of the gradient variances in the classifier head (Rame et al. 2022)."""

from __future__ import annotations

import torch

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.trainers.annealed import AnnealedPenaltyTrainer
from causalphys.trainers.base import Minibatch
from causalphys.trainers.penalties import gradient_variance, per_sample_gradients, variance_distance


def ema_variances(previous: torch.Tensor, current: torch.Tensor, ema: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of DomainBed's moving average of the gradient variances, with its ``1 / (1 - ema)`` correction.

    ``m_t = ema m_{t-1} + (1 - ema) v_t`` (``m_0 = 0``) for ``previous = m_{t-1}`` and ``current = v_t`` ``(E, P)``.
    Returns ``(m_t / (1 - ema), m_t.detach())``: the first is what the penalty uses (its gradient reaches ``v_t``
    with weight 1 whatever ``ema``), the second the state to keep. ``ema = 0`` uses ``v_t`` alone.
    """
    state = ema * previous.to(current.dtype) + (1.0 - ema) * current
    return state / (1.0 - ema), state.detach()


class Fishr(AnnealedPenaltyTrainer):
    """Fishr: ``min mean_e R_e + lambda_t mean_e mean_p (v_ep - mean_f v_fp)^2``.

    ``v_e`` ``(P,)`` is the centred variance, over environment ``e``'s minibatch, of the per-sample gradients of the
    task loss with respect to the ``P`` parameters of the classifier head (``net_.classifier``: its weight and
    bias), given the sample's features ``z_i = net_.features(x_i)``:
    ``g_i = d/dtheta l(head_theta(z_i), y_i)``, ``v_e = mean_i (g_i - mean_i g_i)^2``. Per-sample gradients come
    from ``torch.func`` (:func:`~causalphys.trainers.penalties.per_sample_gradients`); features are not detached, so
    the penalty trains the whole net. Matching these variances (the diagonal of the gradients' covariance, close to
    the Fisher information) across environments aligns the environments' loss landscapes.

    As in DomainBed, the variances pass through an exponential moving average per environment
    (:func:`ema_variances`, weight ``ema`` in ``[0, 1)``, default 0.95) before the distance
    (:func:`~causalphys.trainers.penalties.variance_distance`); its state ``ema_`` ``(E, P)``, zero at the start of
    ``fit``, is checkpointed. ``reduction`` ``"mean"`` (default, DomainBed) averages the squared distances over the
    environments and head parameters; ``"sum"`` adds them up, as the Fishr authors' Colored MNIST script does (with
    the IRM paper's ``penalty_weight`` it takes ``"sum"``: with ``"mean"`` the penalty is ``E x P`` = 782 times
    weaker there and Fishr stays at ERM's solution). Annealing of ``lambda_t`` (1 before ``penalty_anneal_steps``;
    DomainBed uses 0), loss rescaling and the optimizer restart: see
    :class:`~causalphys.trainers.annealed.AnnealedPenaltyTrainer` (``penalty_weight`` default 1000,
    ``penalty_anneal_steps`` default 1500, DomainBed's defaults). Works for every task the task loss supports.
    """

    def __init__(
        self,
        ema: float = 0.95,
        reduction: str = "mean",
        penalty_weight: float = 1000.0,
        penalty_anneal_steps: int = 1500,
        **kwargs,
    ):
        checks.fraction(f"{type(self).__name__} ema", ema, zero_ok=True)
        if reduction not in ("mean", "sum"):
            raise ParameterError(f"{type(self).__name__} reduction must be 'mean' or 'sum', got {reduction!r}")
        self.ema = float(ema)
        self.reduction = reduction
        super().__init__(penalty_weight=penalty_weight, penalty_anneal_steps=penalty_anneal_steps, **kwargs)

    def prepare(self, env_names: list[object]) -> None:
        super().prepare(env_names)
        head = list(self.net_.classifier.parameters())
        n_params = sum(p.numel() for p in head)
        dtype = head[0].dtype if head else torch.get_default_dtype()
        self.ema_ = torch.zeros((len(env_names), n_params), dtype=dtype, device=torch.device(self.device))

    def extra_state(self) -> dict:
        return {"ema": self.ema_.detach().cpu().clone()}

    def load_extra_state(self, state: dict) -> None:
        self.ema_ = state["ema"].to(torch.device(self.device))

    def penalty(
        self, outputs: list[torch.Tensor], batches: list[Minibatch], risks: torch.Tensor, features: list[torch.Tensor]
    ) -> torch.Tensor:
        variances = torch.stack(
            [
                gradient_variance(per_sample_gradients(self.net_.classifier, z, y, self.task_loss))
                for z, (_, y) in zip(features, batches)
            ]
        )
        smoothed, self.ema_ = ema_variances(self.ema_, variances, self.ema)
        return variance_distance(smoothed, self.reduction)
