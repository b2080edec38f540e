"""Empirical risk minimisation (ERM): the pooled loss of all training environments."""

from __future__ import annotations

import torch

from causalphys.trainers.base import FUSE_ROWS, Minibatch, Trainer


class ERM(Trainer):
    """Minimise the mean loss over the concatenated minibatches of all environments.

    ``R(theta) = (1 / sum_e b_e) sum_e sum_i l(f_theta(x_ei), y_ei)`` with ``l`` the task loss (cross-entropy or
    squared error) and ``b_e`` the minibatch size of environment ``e``. Environments are pooled, so ERM ignores
    which environment a sample came from; it is the baseline every invariant learner is compared with.
    Hyper-parameters: those of :class:`~causalphys.trainers.base.Trainer`.
    """

    def update(self, batches: list[Minibatch]) -> dict[str, float]:
        if sum(len(x) for x, _ in batches) <= FUSE_ROWS:
            x = torch.cat([x for x, _ in batches])
            y = torch.cat([y for _, y in batches])
            risk = self.task_loss(self.net_(x), y)
        else:  # large (e.g. full) batches: per environment, without a pooled copy of the inputs
            total = sum(self.task_loss(self.net_(x), y, reduction="none").sum() for x, y in batches)
            risk = total / sum(len(x) for x, _ in batches)
        loss = self.regularized(risk)
        self.optimizer_step(loss)
        return {"loss": loss.item()}
