"""Group distributionally robust optimisation, GroupDRO (Sagawa et al. 2020)."""

from __future__ import annotations

import torch

from causalphys import checks
from causalphys.trainers.base import Minibatch, Trainer


def update_group_weights(q: torch.Tensor, risks: torch.Tensor, eta: float) -> torch.Tensor:
    """One exponentiated-gradient step on the simplex: ``q_e <- q_e exp(eta R_e) / sum_f q_f exp(eta R_f)``.

    ``q`` and ``risks`` are ``(E,)``; the risks are detached, so no gradient flows through the weights.
    """
    q = q * torch.exp(eta * risks.detach().to(q.dtype))
    return q / q.sum()


class GroupDRO(Trainer):
    """GroupDRO: minimise ``sum_e q_e R_e`` while ``q`` (a distribution over environments) chases the worst risk.

    Each step computes the environments' minibatch risks ``R_e``, updates ``q_`` by
    :func:`update_group_weights` (step size ``eta``), then takes an optimiser step on ``sum_e q_e R_e``. This is the
    online algorithm of Sagawa et al. (2020), as in DomainBed. Learned state besides the net: ``q_`` ``(E,)``,
    uniform at the start of ``fit`` and checkpointed.

    Hyper-parameters: ``eta`` (``>= 0``, default 0.01) and those of :class:`~causalphys.trainers.base.Trainer`.
    Metrics per step: ``loss`` (``sum_e q_e R_e``), ``risk`` (``mean_e R_e``) and ``max_risk`` (``max_e R_e``).
    """

    min_envs = 2

    def __init__(self, eta: float = 0.01, **kwargs):
        self.eta = checks.nonnegative_float(f"{type(self).__name__} eta", eta)
        super().__init__(**kwargs)

    def prepare(self, env_names: list[object]) -> None:
        dtype = next((p.dtype for p in self.net_.parameters() if p.is_floating_point()), torch.get_default_dtype())
        n = len(env_names)
        self.q_ = torch.full((n,), 1.0 / n, dtype=dtype, device=torch.device(self.device))

    def extra_state(self) -> dict:
        return {"q": self.q_.detach().cpu().clone()}

    def load_extra_state(self, state: dict) -> None:
        self.q_ = state["q"].to(torch.device(self.device))

    def update(self, batches: list[Minibatch]) -> dict[str, float]:
        outputs = self.net_(torch.cat([x for x, _ in batches])).split([len(x) for x, _ in batches])
        risks = torch.stack([self.task_loss(out, y) for out, (_, y) in zip(outputs, batches)])
        self.q_ = update_group_weights(self.q_, risks, self.eta)
        loss = self.regularized((self.q_ * risks).sum())
        self.optimizer_step(loss)
        return {"loss": loss.item(), "risk": risks.mean().item(), "max_risk": risks.max().item()}
