"""Metrics: pure functions ``(outputs, y) -> float``.

Classification outputs are logits ``(n, k)`` (``k >= 2`` classes) or ``(n, 1)`` / ``(n,)`` for a binary logit;
``y`` holds class indices ``(n,)``. Regression outputs and targets are ``(n,)`` or ``(n, d)``. Dense outputs and
targets are maps ``(n, K, H, W)``: their mean squared error, and where the maps are column maps at a known pixel
size the columns found in them, scored in Å and pm (:func:`dense_metrics`). Where scikit-learn
has the metric it computes it; expected calibration error, which it lacks, is written here.
"""

from __future__ import annotations

import torch

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


def dense_metrics(prediction: torch.Tensor, y: torch.Tensor, pixel_size: float | None = None) -> dict[str, float]:
    """``mse`` of the maps ``(n, K, H, W)``, and with ``pixel_size`` (Å per pixel: column maps, one channel per
    kind) the columns read from the predicted and the true maps, matched per map and kind within 0.5 Å
    (:func:`causalphys.microscopy.columns.score_maps`): ``column_precision``, ``column_recall``, ``column_f1`` and
    the matched columns' median ``position_error_pm``."""
    _check(prediction, y)
    if tuple(prediction.shape) != tuple(y.shape):
        raise ParameterError(f"predicted maps {tuple(prediction.shape)} and target maps {tuple(y.shape)} differ")
    out = {"mse": float(((prediction.detach().double() - y.double()) ** 2).mean())}
    if pixel_size is not None:
        from causalphys.microscopy.columns import score_maps  # the point matching lives with the columns

        match = score_maps(prediction, y, pixel_size)
        out.update(
            column_precision=match.precision,
            column_recall=match.recall,
            column_f1=match.f1,
            position_error_pm=match.median_error * pixel_size * 100,
        )
    return out


SELECTION_METRICS = {"classification": "accuracy", "regression": "rmse", "dense": "column_f1"}
"""The metric a task's runs are chosen and reported by."""


def selection_metric(task: str) -> str:
    """:data:`SELECTION_METRICS` of ``task`` (a dense benchmark needs a pixel size for its column metrics)."""
    if task not in SELECTION_METRICS:
        raise ParameterError(f"unknown task {task!r}; tasks: {list(SELECTION_METRICS)}")
    return SELECTION_METRICS[task]
