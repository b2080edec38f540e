"""Penalties of the invariant-learning trainers, as small pure functions of outputs, targets and risks.

Shapes: ``outputs`` is ``(b, k)`` (one environment's minibatch), ``risks`` is ``(E,)`` (one risk per environment).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def irmv1_penalty(
    outputs: torch.Tensor, y: torch.Tensor, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """The IRMv1 penalty of one environment (Arjovsky et al. 2019): ``(d/dw R_e(w * outputs))^2`` at ``w = 1``.

    ``R_e(w * f) = loss(w * outputs, y)`` is the environment's mean risk with a dummy scalar classifier ``w``
    multiplying the outputs (logits or regression values). The gradient is taken with ``create_graph=True`` so the
    penalty can be differentiated with respect to the net's weights. For the logistic loss the gradient is
    ``mean_i (sigmoid(w z_i) - y_i) z_i``; it vanishes when the outputs are the environment's optimal predictor
    among rescalings (e.g. logits equal to the true log-odds). Returns a 0-d tensor ``>= 0``.
    """
    scale = torch.ones((), dtype=outputs.dtype, device=outputs.device, requires_grad=True)
    (grad,) = torch.autograd.grad(loss(outputs * scale, y), [scale], create_graph=True)
    return grad.pow(2)


def risk_variance(risks: torch.Tensor) -> torch.Tensor:
    """The V-REx penalty (Krueger et al. 2021): the population variance ``mean_e (R_e - mean(R))^2`` of ``(E,)`` risks.

    Equal to ``torch.var(risks, unbiased=False)``, as in DomainBed's V-REx. Returns a 0-d tensor.
    """
    return (risks - risks.mean()).pow(2).mean()
