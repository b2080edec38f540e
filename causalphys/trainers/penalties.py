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


# ------------------------------------------------------------------------------------------ penalties on features
# ``z`` is one environment's features ``(b, d)`` (the net's ``features(x)``, before the head).

MMD_GAMMAS = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


def pairwise_mean(
    features: list[torch.Tensor], distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``mean_{e < f} distance(z_e, z_f)`` over the ``E (E - 1) / 2`` pairs of environments (``E >= 2``); 0-d."""
    pairs = [distance(features[i], features[j]) for i in range(len(features)) for j in range(i + 1, len(features))]
    return torch.stack(pairs).mean()


def coral_distance(za: torch.Tensor, zb: torch.Tensor) -> torch.Tensor:
    """CORAL's distance between two feature batches ``(b_a, d)``, ``(b_b, d)`` (``b >= 2``), as DomainBed computes it.

    ``mean_j (mu_a - mu_b)_j^2 + mean_jk (C_a - C_b)_jk^2`` with the means ``mu`` ``(d,)`` and the unbiased
    covariances ``C = (z - mu)^T (z - mu) / (b - 1)`` ``(d, d)``: the squared Euclidean distance of the means over
    ``d`` plus the squared Frobenius distance of the covariances over ``d^2``. Zero when both batches have the same
    mean and covariance. Returns a 0-d tensor.
    """
    mean_a, mean_b = za.mean(0, keepdim=True), zb.mean(0, keepdim=True)
    cent_a, cent_b = za - mean_a, zb - mean_b
    cov_a = cent_a.T @ cent_a / (len(za) - 1)
    cov_b = cent_b.T @ cent_b / (len(zb) - 1)
    return (mean_a - mean_b).pow(2).mean() + (cov_a - cov_b).pow(2).mean()


KERNEL_BLOCK_ENTRIES = 2**22
"""Kernel matrices with more entries than this are averaged block by block (see :func:`kernel_mean`)."""


def gaussian_kernel(za: torch.Tensor, zb: torch.Tensor, gammas=MMD_GAMMAS) -> torch.Tensor:
    """``K_ij = sum_g exp(-g ||za_i - zb_j||^2)`` ``(b_a, b_b)``, a sum of Gaussian kernels over the bandwidths."""
    sq = (za.pow(2).sum(1, keepdim=True) - 2 * za @ zb.T + zb.pow(2).sum(1)).clamp_min(0.0)
    return sum(torch.exp(-g * sq) for g in gammas)


class _BlockwiseKernelSum(torch.autograd.Function):
    """``sum_ij K_ij`` over blocks of ``rows`` rows of ``za``, with the gradient recomputed block by block:
    ``dK_ij/dza_i = sum_g -2 g exp(-g ||za_i - zb_j||^2) (za_i - zb_j)`` (and the opposite for ``zb_j``)."""

    @staticmethod
    def forward(ctx, za, zb, gammas, rows):
        ctx.save_for_backward(za, zb)
        ctx.gammas, ctx.rows = gammas, rows
        return sum(gaussian_kernel(block, zb, gammas).sum() for block in za.split(rows))

    @staticmethod
    def backward(ctx, grad):
        za, zb = ctx.saved_tensors
        grad_za, grad_zb = torch.empty_like(za), torch.zeros_like(zb)
        for start in range(0, len(za), ctx.rows):
            block = za[start : start + ctx.rows]
            sq = (block.pow(2).sum(1, keepdim=True) - 2 * block @ zb.T + zb.pow(2).sum(1)).clamp_min(0.0)
            w = sum(-2 * g * torch.exp(-g * sq) for g in ctx.gammas) * grad  # d K_ij / d sq_ij, times the output grad
            grad_za[start : start + ctx.rows] = w.sum(1, keepdim=True) * block - w @ zb
            grad_zb += w.sum(0).unsqueeze(1) * zb - w.T @ block
        return grad_za, grad_zb, None, None


def kernel_mean(
    za: torch.Tensor, zb: torch.Tensor, gammas=MMD_GAMMAS, block_entries: int | None = None
) -> torch.Tensor:
    """``mean_ij K_ij`` of :func:`gaussian_kernel` for ``za`` ``(b_a, d)`` and ``zb`` ``(b_b, d)``.

    A matrix of up to ``block_entries`` entries (default :data:`KERNEL_BLOCK_ENTRIES`) is built whole. A larger one
    (full-batch training: 25,000 x 25,000 for the Colored MNIST MLP, whose 7 bandwidths and their saved outputs
    need tens of GB) is summed over blocks of rows of ``za`` and its gradient recomputed block by block
    (``_BlockwiseKernelSum``), so that one block's kernel lives at a time: memory ``O(block_entries)`` for twice
    the compute. The value is the same up to floating-point summation order (first-order gradients only).
    """
    limit = KERNEL_BLOCK_ENTRIES if block_entries is None else block_entries
    if len(za) * len(zb) <= limit:
        return gaussian_kernel(za, zb, gammas).mean()
    rows = max(1, limit // max(1, len(zb)))
    return _BlockwiseKernelSum.apply(za, zb, tuple(gammas), rows) / (len(za) * len(zb))


def mmd_distance(za: torch.Tensor, zb: torch.Tensor, gammas=MMD_GAMMAS) -> torch.Tensor:
    """The (biased) squared maximum mean discrepancy ``mean K(a, a) + mean K(b, b) - 2 mean K(a, b)`` between two
    feature batches with the multi-bandwidth :func:`gaussian_kernel` (DomainBed's ``gammas``), each mean by
    :func:`kernel_mean` (block by block for large batches). ``>= 0``; zero for identical batches. Returns a 0-d
    tensor."""
    return kernel_mean(za, za, gammas) + kernel_mean(zb, zb, gammas) - 2 * kernel_mean(za, zb, gammas)


def feature_variance(z: torch.Tensor) -> torch.Tensor:
    """IB-IRM's information-bottleneck term of one environment: ``mean_j Var_i(z_ij)`` over the ``d`` features of a
    ``(b, d)`` batch, with the unbiased variance (``torch.var``, as DomainBed). Returns a 0-d tensor."""
    return z.var(dim=0).mean()


# -------------------------------------------------------------------------------------------- Fishr's penalty
def per_sample_gradients(
    module: torch.nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``(b, P)``: row ``i`` is ``d/dtheta loss(module_theta(inputs[i:i+1]), targets[i:i+1])`` flattened over the
    module's ``P`` parameter entries (in ``named_parameters`` order, e.g. a linear head's weight then bias).

    Computed with ``torch.func`` (``vmap`` of ``grad`` of ``functional_call``), in one batched pass. The result stays
    differentiable with respect to ``inputs`` and the module's parameters, so a penalty on it trains the net.

    A plain :class:`torch.nn.Linear` module (a classifier head) takes a shortcut with the same result: its
    per-sample gradients are outer products, ``dW_i = delta_i z_i^T`` and ``db_i = delta_i`` with
    ``delta_i = d loss_i / d out_i`` (one ``autograd.grad`` of the summed loss with respect to the outputs), which
    saves the batched matrix products of ``vmap`` (half of Fishr's step on the full-batch Colored MNIST MLP).
    ``loss`` must then be a mean over the samples (as every task loss is), so that ``b * loss`` is their sum.
    """
    if type(module) is torch.nn.Linear and inputs.dim() == 2 and module.weight.requires_grad:
        outputs = module(inputs)
        (delta,) = torch.autograd.grad(loss(outputs, targets) * len(inputs), outputs, create_graph=True)
        weight = (delta.unsqueeze(2) * inputs.unsqueeze(1)).reshape(len(inputs), -1)
        return torch.cat([weight, delta], dim=1) if module.bias is not None else weight
    params = dict(module.named_parameters())

    def sample_loss(p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss(torch.func.functional_call(module, p, (x.unsqueeze(0),)), y.unsqueeze(0))

    grads = torch.func.vmap(torch.func.grad(sample_loss), in_dims=(None, 0, 0))(params, inputs, targets)
    return torch.cat([g.reshape(len(inputs), -1) for g in grads.values()], dim=1)


def gradient_variance(grads: torch.Tensor) -> torch.Tensor:
    """The centred (population) variance ``mean_i (g_i - mean_i g_i)^2`` ``(P,)`` of per-sample gradients ``(b, P)``."""
    return (grads - grads.mean(0, keepdim=True)).pow(2).mean(0)


def variance_distance(variances: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Fishr's penalty from the environments' gradient variances ``(E, P)``: the squared distances
    ``(v_ep - vbar_p)^2`` to the mean variance ``vbar = mean_e v_e``, reduced over the ``E x P`` entries.

    ``reduction="mean"`` averages them (DomainBed's ``l2_between_dicts``, averaged over the environments);
    ``"sum"`` adds them up, as the Fishr authors' own Colored MNIST script does (a sum over the ``P`` parameters and
    over the environments: ``E * P`` times the mean, so the same ``penalty_weight`` means a much stronger penalty).
    Returns a 0-d tensor."""
    squared = (variances - variances.mean(0, keepdim=True)).pow(2)
    if reduction == "mean":
        return squared.mean()
    if reduction == "sum":
        return squared.sum()
    raise ValueError(f"variance_distance reduction must be 'mean' or 'sum', got {reduction!r}")
