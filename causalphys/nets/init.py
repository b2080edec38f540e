"""Seeded re-initialisation of a net's weights, without touching the caller's RNG state."""

from __future__ import annotations

import torch
from torch import nn

from causalphys.errors import CausalPhysError


class InitError(CausalPhysError, TypeError):
    """A net has parameters that :func:`reinitialize` cannot re-draw (no module owning them has
    ``reset_parameters``)."""


def _plan(module: nn.Module, prefix: str, resets: list[nn.Module], missed: list[str]) -> None:
    if callable(getattr(module, "reset_parameters", None)):
        resets.append(module)  # it re-draws everything below it (its own init scheme wins over its children's)
        return
    missed += [prefix + name for name, _ in module.named_parameters(recurse=False)]
    for name, child in module.named_children():
        _plan(child, f"{prefix}{name}.", resets, missed)


def reinitialize(net: nn.Module, seed: int) -> nn.Module:
    """Re-draw every parameter of ``net`` from ``seed``, in place, and return ``net``.

    Walks the module tree from the top: a module that defines ``reset_parameters()`` is reset by that call (its
    children are not visited again), any other module is descended into. Runs under
    :func:`torch.random.fork_rng` with ``torch.manual_seed(seed)``, so the same seed gives the same weights and the
    caller's global RNG state is unchanged afterwards. The weights depend on the device the parameters are on (CPU
    and CUDA generators differ); trainers re-initialise on the CPU and then move the net.

    Raises :class:`InitError`, before changing anything, naming the parameters that no ``reset_parameters`` covers
    (they would silently keep their old, unseeded values).
    """
    resets: list[nn.Module] = []
    missed: list[str] = []
    _plan(net, "", resets, missed)
    if missed:
        raise InitError(
            f"cannot re-initialise {type(net).__name__}: parameter(s) {missed} belong to modules without "
            "reset_parameters(); define reset_parameters() on the module that owns them"
        )
    devices = sorted({p.device.index or 0 for p in net.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        for module in resets:
            module.reset_parameters()
    return net
