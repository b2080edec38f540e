"""Sampling environments into training tensors ``{environment: (x, y)}``.

A node's values become a learner's inputs by their per-unit shape (:func:`node_features`): a scalar node gives
``(n, 1)``, a vector node ``(n, d)`` as drawn, an image node ``(n, 1, h, w)`` standardised per image
(:func:`standardize_images`); several scalar or vector nodes are concatenated into ``(n, d_1 + ... + d_k)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from causalphys.errors import CausalPhysError, ParameterError
from causalphys.scm.model import SCM
from causalphys.seeding import derive_seed

AUTO = "auto"
"""``environment_tensors(transform=AUTO)``: inputs by their per-unit shape (:func:`node_features`)."""


def standardize_images(images: torch.Tensor) -> torch.Tensor:
    """Per-image standardisation, ``(n, H, W) -> (n, 1, H, W)``: ``(x - mean) / std`` of each image.

    The usual first step of a microscopy pipeline; it removes detector offset and gain but keeps noise, blur and
    distortions (so the instrument stays visible, as it does in practice).
    """
    x = images.to(torch.float32)
    flat = x.reshape(x.shape[0], -1)
    mean = flat.mean(1).view(-1, 1, 1)
    std = flat.std(1).clamp_min(1e-8).view(-1, 1, 1)
    return ((x - mean) / std).unsqueeze(1)


def node_features(values: torch.Tensor, node: str) -> torch.Tensor:
    """A node's values ``(n, *shape)`` as inputs, by the per-unit shape: scalar ``(n,) -> (n, 1)``; vector
    ``(n, d)`` unchanged; image ``(n, h, w) -> (n, 1, h, w)`` by :func:`standardize_images`. Anything else (e.g.
    ``(n, c, h, w)`` per unit) is a :class:`ParameterError` naming the node and its shape."""
    if values.dim() == 1:
        return values.unsqueeze(1)
    if values.dim() == 2:
        return values
    if values.dim() == 3:
        return standardize_images(values)
    raise ParameterError(
        f"node {node!r} has per-unit shape {tuple(values.shape[1:])} (batch {tuple(values.shape)}); inputs must be "
        "scalars (n,), vectors (n, d) or images (n, h, w): pass a transform of your own for other shapes"
    )


def input_tensor(batch: Mapping[str, torch.Tensor], inputs: str | Sequence[str]) -> torch.Tensor:
    """The inputs of a batch by :func:`node_features`: one node, or several scalar/vector nodes concatenated
    feature-wise, ``(n, d_1 + ... + d_k)`` in the order given (an image node cannot be concatenated: error)."""
    if isinstance(inputs, str):
        return node_features(batch[inputs], inputs)
    parts = []
    for node in inputs:
        values = batch[node]
        if values.dim() > 2:
            raise ParameterError(
                f"node {node!r} has per-unit shape {tuple(values.shape[1:])}: only scalar and vector nodes can be "
                f"concatenated as features (inputs {list(inputs)}); give an image node as the only input"
            )
        parts.append(node_features(values, node))
    return torch.cat(parts, dim=1)


def _raw(batch: Mapping[str, torch.Tensor], inputs: str | Sequence[str]) -> torch.Tensor:
    if isinstance(inputs, str):
        return batch[inputs]
    return torch.cat([batch[node].reshape(batch[node].shape[0], -1) for node in inputs], dim=1)


def environment_tensors(
    envs: Mapping[str, SCM],
    n: int | Mapping[str, int],
    *,
    seed: int,
    inputs: str | Sequence[str] = "image",
    target: str = "label",
    transform: Callable[[torch.Tensor], torch.Tensor] | str | None = AUTO,
    classification: bool = True,
    chunk: int = 1000,
    on_chunk: Callable[[str, int], None] | None = None,
    streams: Mapping[str, str] | None = None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{environment: (x, y)}`` with ``x`` the inputs and ``y = batch[target]``, for ``envs`` an
    :class:`~causalphys.scm.environments.Environments` (or any ``{name: SCM}``).

    ``inputs`` is a node, or a list of scalar/vector nodes concatenated feature-wise. ``transform``: ``"auto"``
    (the default) makes ``x`` by the per-unit shape (:func:`input_tensor`: scalar ``(n, 1)``, vector ``(n, d)``,
    image ``(n, 1, h, w)`` standardised per image); a callable is applied to the raw values ``(n, *shape)`` (a list
    of nodes: flattened and concatenated, ``(n, d)``); ``None`` keeps the raw values.

    Each environment is drawn in chunks of ``chunk`` units (chunk ``k`` with seed ``derive_seed(seed, env, k)``) so
    memory stays bounded; only ``inputs``, ``target`` and their ancestors are computed. Class labels become
    ``long``. ``on_chunk(env, units_done)`` reports progress. ``streams[env]`` replaces ``env`` in the seed: the
    environments of one stream draw the same exogenous noise (common random numbers — e.g. the same samples at
    every level of a severity sweep, imaged by ever more shifted scanners).
    """
    if isinstance(transform, str) and transform != AUTO:
        raise ParameterError(f"transform must be {AUTO!r}, a callable or None, got {transform!r}")
    names = [inputs] if isinstance(inputs, str) else list(inputs)
    if not names:
        raise ParameterError("inputs must name at least one node")
    sizes = {name: (n[name] if isinstance(n, Mapping) else n) for name in envs}
    out = {}
    for name, scm in envs.items():
        for node in (*names, target):
            if node not in scm.graph:
                raise CausalPhysError(f"node {node!r} is not in the SCM of environment {name!r}")
        xs, ys, done = [], [], 0
        for k, start in enumerate(range(0, sizes[name], chunk)):
            size = min(chunk, sizes[name] - start)
            stream = streams.get(name, name) if streams is not None else name
            batch = scm.sample(size, seed=derive_seed(seed, "environment", stream, k), nodes=[*names, target])
            if isinstance(transform, str):  # AUTO
                xs.append(input_tensor(batch, inputs))
            else:
                x = _raw(batch, inputs)
                xs.append(transform(x) if transform is not None else x)
            ys.append(batch[target].long() if classification else batch[target])
            done += size
            if on_chunk is not None:
                on_chunk(name, done)
        out[name] = (torch.cat(xs), torch.cat(ys))
    return out
