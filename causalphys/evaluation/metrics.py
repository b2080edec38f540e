"""Metrics: pure functions ``(outputs, y) -> float``.

Classification outputs are logits ``(n, k)`` (``k >= 2`` classes) or ``(n, 1)`` / ``(n,)`` for a binary logit;
``y`` holds class indices ``(n,)``. Regression outputs and targets are ``(n,)`` or ``(n, d)``. Dense outputs and
targets are maps ``(n, K, H, W)``: their mean squared error, and the scores the benchmark names for its maps (the
columns found in column maps, in Å and pm: :func:`dense_metrics`). Where scikit-learn
has the metric it computes it; expected calibration error, which it lacks, is written here.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from causalphys import checks
from causalphys.errors import ParameterError


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(n, k)``: softmax of ``(n, k)`` logits, or ``[1 - s, s]`` with ``s = sigmoid(z)`` for a
    binary logit ``z`` of shape ``(n,)`` or ``(n, 1)``."""
    z = logits.detach().to(torch.float64)
    if z.dim() == 1 or z.shape[1] == 1:
        p = torch.sigmoid(z.reshape(-1))
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(z, dim=1)


def _check(outputs: torch.Tensor, y: torch.Tensor) -> None:
    if outputs.shape[0] != y.shape[0]:
        raise ParameterError(f"outputs have {outputs.shape[0]} rows but targets {y.shape[0]}")
    if y.shape[0] == 0:
        raise ParameterError("a metric needs at least one unit, got none")


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of units whose most probable class is ``y``."""
    _check(logits, y)
    return float((probabilities(logits).argmax(1) == y.to(logits.device)).double().mean())


def nll(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Mean negative log-likelihood ``-mean_i log p(y_i | x_i)`` in nats (scikit-learn's ``log_loss``)."""
    _check(logits, y)
    from sklearn import metrics as skm  # imported on use: scikit-learn is heavy, most runs never need it here

    p = probabilities(logits).cpu().numpy()
    return float(skm.log_loss(y.cpu().numpy(), p, labels=list(range(p.shape[1]))))


def ece(logits: torch.Tensor, y: torch.Tensor, n_bins: int = 15) -> float:
    """Expected calibration error: ``sum_b (n_b / n) |acc_b - conf_b|`` over ``n_bins`` equal-width bins of the
    confidence ``max_k p_k`` (Guo et al. 2017)."""
    _check(logits, y)
    p = probabilities(logits)
    confidence, predicted = p.max(1)
    correct = (predicted == y.to(p.device)).double()
    bins = torch.clamp((confidence * n_bins).long(), max=n_bins - 1)
    counts = torch.bincount(bins, minlength=n_bins).double()
    gap = torch.bincount(bins, weights=correct - confidence, minlength=n_bins).abs()
    return float(gap.sum() / counts.sum())


def flip_rate(*views: torch.Tensor) -> float:
    """Fraction of units whose predicted class is not the same in every view: ``views`` are logits of the same
    units under different counterfactual interventions (e.g. imaged by each of a lab's scanners)."""
    if len(views) < 2:
        raise ParameterError(f"flip_rate needs at least two views, got {len(views)}")
    predicted = torch.stack([probabilities(v).argmax(1) for v in views])
    return float((predicted != predicted[0]).any(0).double().mean())


def rmse(prediction: torch.Tensor, y: torch.Tensor) -> float:
    """Root mean squared error over all units and target dimensions."""
    _check(prediction, y)
    from sklearn import metrics as skm

    return float(skm.root_mean_squared_error(_flat(y), _flat(prediction.reshape(y.shape))))


def r2(prediction: torch.Tensor, y: torch.Tensor) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (averaged uniformly over target dimensions)."""
    _check(prediction, y)
    from sklearn import metrics as skm

    return float(skm.r2_score(_flat(y), _flat(prediction.reshape(y.shape))))


def change(*views: torch.Tensor) -> float:
    """Regression analogue of :func:`flip_rate`: mean absolute difference between each view's prediction and the
    first view's, over units and views."""
    if len(views) < 2:
        raise ParameterError(f"change needs at least two views, got {len(views)}")
    first = views[0].detach().double()
    return float(torch.stack([(v.detach().double() - first).abs().mean() for v in views[1:]]).mean())


def _flat(t: torch.Tensor):
    t = t.detach().double().cpu()
    return (t.reshape(t.shape[0], -1) if t.dim() > 1 else t).numpy()


def classification_metrics(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """``accuracy``, ``nll`` and ``ece`` of one split."""
    return {"accuracy": accuracy(logits, y), "nll": nll(logits, y), "ece": ece(logits, y)}


def regression_metrics(prediction: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """``rmse`` and ``r2`` of one split."""
    return {"rmse": rmse(prediction, y), "r2": r2(prediction, y)}


def dense_metrics(
    prediction: torch.Tensor, y: torch.Tensor, map_metrics: Mapping[str, object] | None = None
) -> dict[str, float]:
    """``mse`` of the maps ``(n, K, H, W)``, and the benchmark's own scores of the maps where it names them
    (:attr:`BenchmarkData.map_metrics <causalphys.data.benchmark.BenchmarkData>`: ``{"function": dotted path,
    **keyword arguments}``; e.g. the columns found in column maps, in Å and pm:
    :func:`causalphys.microscopy.columns.column_metrics`)."""
    _check(prediction, y)
    if tuple(prediction.shape) != tuple(y.shape):
        raise ParameterError(f"predicted maps {tuple(prediction.shape)} and target maps {tuple(y.shape)} differ")
    out = {"mse": float(((prediction.detach().double() - y.double()) ** 2).mean())}
    if map_metrics:
        kwargs = dict(map_metrics)
        out.update(checks.function(kwargs.pop("function", None), "map_metrics.function")(prediction, y, **kwargs))
    return out


SELECTION_METRICS = {"classification": "accuracy", "regression": "rmse", "dense": "column_f1"}
"""The metric a task's runs are chosen and reported by."""


def selection_metric(task: str) -> str:
    """:data:`SELECTION_METRICS` of ``task`` (a dense task is chosen by ``column_f1``: its benchmark's
    ``map_metrics`` must give it)."""
    if task not in SELECTION_METRICS:
        raise ParameterError(f"unknown task {task!r}; tasks: {list(SELECTION_METRICS)}")
    return SELECTION_METRICS[task]
