"""Task losses and accuracy shared by every trainer.

Shapes: ``outputs`` is ``(n, k)``. Classification: ``y`` is ``(n,)`` integer class labels; ``k >= 2`` uses
softmax cross-entropy over ``k`` classes, ``k == 1`` is binary logistic regression on the single logit (labels in
``{0, 1}``, the IRM reference's choice). Regression: ``y`` is ``(n,)`` (with ``k == 1``) or ``(n, k)``; the loss is
the squared error averaged over the ``k`` targets. Dense (per-pixel) tasks: ``outputs`` and ``y`` are maps
``(n, k, h, w)`` of the same shape (e.g. column heat maps); the loss is the squared error averaged over every
channel and pixel of a sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from causalphys.data.benchmark import LEARNING_TASKS
from causalphys.errors import ParameterError


def task_loss(outputs: torch.Tensor, y: torch.Tensor, task: str, reduction: str = "mean") -> torch.Tensor:
    """The loss of ``outputs`` against ``y``: a scalar (``reduction="mean"``) or per-sample ``(n,)`` (``"none"``).

    Classification, ``k >= 2``: ``l_i = -log softmax(outputs_i)[y_i]``; ``k == 1``:
    ``l_i = -y_i log sigmoid(o_i) - (1 - y_i) log(1 - sigmoid(o_i))``. Regression and dense:
    ``l_i = mean_j (o_ij - y_ij)^2`` over every target (every channel and pixel of a map).
    """
    if reduction not in ("mean", "none"):
        raise ParameterError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if task == "classification":
        if outputs.shape[-1] == 1:
            per_sample = F.binary_cross_entropy_with_logits(outputs[:, 0], y.to(outputs.dtype), reduction="none")
        else:
            per_sample = F.cross_entropy(outputs, y, reduction="none")
    elif task in ("regression", "dense"):
        target = y.reshape(len(y), -1).to(outputs.dtype)
        per_sample = (outputs.reshape(len(outputs), -1) - target).pow(2).mean(dim=1)
    else:
        raise ParameterError(f"task must be one of {list(LEARNING_TASKS)}, got {task!r}")
    return per_sample.mean() if reduction == "mean" else per_sample


def predicted_labels(outputs: torch.Tensor) -> torch.Tensor:
    """Class labels ``(n,)`` from ``(n, k)`` outputs: ``argmax`` for ``k >= 2``, ``logit > 0`` for ``k == 1``."""
    if outputs.shape[-1] == 1:
        return (outputs[:, 0] > 0).long()
    return outputs.argmax(dim=1)


def accuracy(outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The fraction of correctly classified samples, a 0-d float tensor."""
    return (predicted_labels(outputs) == y).float().mean()
