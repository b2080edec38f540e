"""Sampling environments into training tensors ``{environment: (x, y)}``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from causalphys.errors import CausalPhysError
from causalphys.scm.environments import Environments
from causalphys.seeding import derive_seed


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


def environment_tensors(
    envs: Environments,
    n: int | Mapping[str, int],
    *,
    seed: int,
    inputs: str = "image",
    target: str = "label",
    transform: Callable[[torch.Tensor], torch.Tensor] | None = standardize_images,
    classification: bool = True,
    chunk: int = 1000,
    on_chunk: Callable[[str, int], None] | None = None,
    streams: Mapping[str, str] | None = None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{environment: (x, y)}`` with ``x = transform(batch[inputs])`` and ``y = batch[target]``.

    Each environment is drawn in chunks of ``chunk`` units (chunk ``k`` with seed ``derive_seed(seed, env, k)``) so
    memory stays bounded; only ``inputs``, ``target`` and their ancestors are computed. Class labels become
    ``long``. ``on_chunk(env, units_done)`` reports progress. ``streams[env]`` replaces ``env`` in the seed: the
    environments of one stream draw the same exogenous noise (common random numbers — e.g. the same samples at
    every level of a severity sweep, imaged by ever more shifted scanners).
    """
    sizes = {name: (n[name] if isinstance(n, Mapping) else n) for name in envs}
    out = {}
    for name, scm in envs.items():
        for node in (inputs, target):
            if node not in scm.graph:
                raise CausalPhysError(f"node {node!r} is not in the SCM of environment {name!r}")
        xs, ys, done = [], [], 0
        for k, start in enumerate(range(0, sizes[name], chunk)):
            size = min(chunk, sizes[name] - start)
            stream = streams.get(name, name) if streams is not None else name
            batch = scm.sample(size, seed=derive_seed(seed, "environment", stream, k), nodes=[inputs, target])
            x = batch[inputs]
            xs.append(transform(x) if transform is not None else x)
            ys.append(batch[target].long() if classification else batch[target])
            done += size
            if on_chunk is not None:
                on_chunk(name, done)
        out[name] = (torch.cat(xs), torch.cat(ys))
    return out
