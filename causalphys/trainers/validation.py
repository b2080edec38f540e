"""Checks of the training environments passed to ``fit``; every error names the environment and the problem.

``envs`` maps an environment name to ``(x, y)``: ``x`` a floating tensor ``(n, *input_shape)`` with the same
``input_shape`` in every environment; ``y`` a tensor of length ``n``: integer class labels ``(n,)`` for
classification, floating targets ``(n,)`` or ``(n, k)`` for regression, floating maps ``(n, k, ...)`` of the net's
output shape for a dense task. Nothing may be NaN or infinite.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from causalphys.nets.modes import evaluating
from causalphys.trainers.errors import DataError, DataTypeError, NetError


def _nonfinite(t: torch.Tensor) -> str | None:
    """What is not finite in a floating tensor (``"3 NaN value(s)"``, ``"1 infinite value(s)"``), or ``None``."""
    if bool(torch.isfinite(t).all()):  # one pass and a boolean temporary in the usual case
        return None
    nan = int(torch.isnan(t).sum())
    if nan:
        return f"{nan} NaN value(s)"
    inf = int(torch.isinf(t).sum())
    return f"{inf} infinite value(s)" if inf else None


def check_envs(
    envs: object, task: str, min_envs: int = 1, owner: str = "the trainer"
) -> tuple[list[object], tuple[int, ...]]:
    """Check ``envs`` (see the module doc) and return the environment names, in order, and the per-sample shape.

    ``min_envs`` is the number of environments the method needs; ``owner`` names it in errors. The class labels'
    range is checked later by :func:`check_targets`, once the net's number of outputs is known.
    """
    if not isinstance(envs, Mapping):
        raise DataTypeError(f"envs must map environment names to (x, y) pairs, got {type(envs).__name__}")
    if len(envs) < min_envs:
        need = "at least one training environment" if min_envs == 1 else f"at least {min_envs} training environments"
        raise DataError(f"{owner} needs {need}, got {len(envs)}: {list(envs)}")
    names = list(envs)
    shape: tuple[int, ...] | None = None
    for name in names:
        pair = envs[name]
        where = f"environment {name!r}"
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise DataTypeError(f"{where}: expected a pair (x, y), got {type(pair).__name__}")
        x, y = pair
        for label, t in (("x", x), ("y", y)):
            if not isinstance(t, torch.Tensor):
                raise DataTypeError(f"{where}: {label} must be a torch.Tensor, got {type(t).__name__}")
        if not x.is_floating_point():
            raise DataTypeError(f"{where}: x must be a floating tensor, got dtype {x.dtype}")
        if x.dim() < 2:
            raise DataError(f"{where}: x must have shape (n, ...) with at least one feature, got {tuple(x.shape)}")
        if len(x) == 0:
            raise DataError(f"{where} has no samples")
        if y.dim() == 0 or len(y) != len(x):
            raise DataError(f"{where}: y has {len(y) if y.dim() else 0} entries but x has {len(x)} samples")
        if shape is None:
            shape = tuple(x.shape[1:])
        elif tuple(x.shape[1:]) != shape:
            raise DataError(
                f"{where}: x has per-sample shape {tuple(x.shape[1:])} but environment {names[0]!r} has {shape}"
            )
        if task == "classification":
            if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
                raise DataTypeError(f"{where}: classification labels y must be an integer tensor, got {y.dtype}")
            if y.dim() != 1:
                raise DataError(f"{where}: classification labels y must have shape (n,), got {tuple(y.shape)}")
        elif task == "dense":
            if not y.is_floating_point():
                raise DataTypeError(f"{where}: dense targets y must be a floating tensor, got {y.dtype}")
            if y.dim() < 3:
                raise DataError(f"{where}: dense targets y must be maps (n, k, ...), got {tuple(y.shape)}")
        else:
            if not y.is_floating_point():
                raise DataTypeError(f"{where}: regression targets y must be a floating tensor, got {y.dtype}")
            if y.dim() > 2:
                raise DataError(f"{where}: regression targets y must have shape (n,) or (n, k), got {tuple(y.shape)}")
        bad = _nonfinite(x)
        if bad:
            raise DataError(f"{where}: x contains {bad}")
        if y.is_floating_point():
            bad = _nonfinite(y)
            if bad:
                raise DataError(f"{where}: y contains {bad}")
    return names, shape


def check_targets(envs: Mapping, task: str, n_outputs: int) -> None:
    """Check that the targets fit a net with ``n_outputs`` outputs.

    Classification: labels in ``[0, n_outputs)``, or in ``{0, 1}`` when ``n_outputs == 1`` (one logit, binary).
    Regression: ``y`` of shape ``(n,)`` needs ``n_outputs == 1``; ``(n, k)`` needs ``n_outputs == k``. Dense:
    ``n_outputs`` is the net's per-sample output shape ``(k, ...)`` and ``y`` must be ``(n, k, ...)``.
    """
    for name, (_, y) in envs.items():
        where = f"environment {name!r}"
        if task == "dense":
            if tuple(y.shape[1:]) != tuple(n_outputs):
                raise DataError(
                    f"{where}: dense targets have per-sample shape {tuple(y.shape[1:])} but the net outputs "
                    f"{tuple(n_outputs)}"
                )
        elif task == "classification":
            n_classes = max(n_outputs, 2)
            low, high = int(y.min()), int(y.max())
            if low < 0 or high >= n_classes:
                bad = low if low < 0 else high
                raise DataError(
                    f"{where}: class label {bad} is outside [0, {n_classes}) for a net with {n_outputs} output(s)"
                )
        else:
            width = 1 if y.dim() == 1 else y.shape[1]
            if width != n_outputs:
                raise DataError(
                    f"{where}: regression targets have {width} column(s) but the net has {n_outputs} output(s)"
                )


def check_net(net: object, owner: str = "the trainer") -> None:
    """Raise :class:`NetError` unless ``net`` is an ``nn.Module`` with ``features(x)`` and ``head(z)`` methods."""
    if not isinstance(net, nn.Module):
        raise NetError(f"{owner} needs an nn.Module with features(x) and head(z), got {type(net).__name__}")
    for method in ("features", "head"):
        if not callable(getattr(net, method, None)):
            raise NetError(
                f"{owner} needs an nn.Module with features(x) and head(z); {type(net).__name__} has no {method}()"
            )


def count_outputs(net: nn.Module, x: torch.Tensor, name: object, task: str = "classification"):
    """The net's number of outputs, from ``head(features(x[:1]))`` run in eval mode without gradients.

    Also checks that the net accepts ``x`` (of environment ``name``) and that ``features`` returns ``(n, d)`` and
    ``head`` ``(n, n_outputs)``; raises :class:`NetError` naming the environment otherwise. The net's train/eval
    mode is restored. A dense task's net returns maps (``features`` ``(n, d, ...)``, ``head`` ``(n, k, ...)``): its
    per-sample output shape ``(k, ...)`` is returned.
    """
    try:
        with evaluating(net):
            z = net.features(x[:1])
            out = net.head(z)
    except Exception as e:
        raise NetError(
            f"{type(net).__name__} cannot process x of environment {name!r} (per-sample shape "
            f"{tuple(x.shape[1:])}): {e}"
        ) from e
    if task == "dense":
        if z.dim() < 3 or out.dim() < 3 or len(z) != 1 or len(out) != 1:
            raise NetError(
                f"{type(net).__name__}.features must return maps (n, d, ...) and head (n, k, ...) for a dense task; "
                f"got {tuple(z.shape)} and {tuple(out.shape)} for one sample of environment {name!r}"
            )
        return tuple(out.shape[1:])
    if z.dim() != 2 or out.dim() != 2 or len(z) != 1 or len(out) != 1:
        raise NetError(
            f"{type(net).__name__}.features must return (n, d) and head (n, n_outputs); got "
            f"{tuple(z.shape)} and {tuple(out.shape)} for one sample of environment {name!r}"
        )
    return out.shape[1]
