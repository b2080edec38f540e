"""Exogenous noise distributions.

A noise distribution draws the exogenous variable ``u`` of one node: a tensor of shape ``(n, *shape)`` from an
explicit ``torch.Generator``. Mechanisms keep the noise apart from the function ``f(parents, u)``: that is what
makes counterfactuals possible (keep ``u``, change the parents).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from causalphys import checks
from causalphys.errors import ParameterError


def _shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if any(s <= 0 for s in shape):
        raise ParameterError(f"noise shape must have positive sizes, got {shape}")
    return shape


class Noise:
    """Base class: ``sample(n, generator, device, dtype) -> (n, *shape)``."""

    shape: tuple[int, ...] = ()

    def sample(self, n: int, generator: torch.Generator, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        raise NotImplementedError

    def _size(self, n: int) -> tuple[int, ...]:
        return (n, *self.shape)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))


class Normal(Noise):
    """``u ~ N(mean, std²)`` elementwise, shape ``(n, *shape)``."""

    def __init__(self, mean: float = 0.0, std: float = 1.0, shape: int | Sequence[int] = ()):
        self.mean = checks.finite_float("Normal.mean", mean)
        self.std = checks.positive_float("Normal.std", std)
        self.shape = _shape(shape)

    def sample(self, n, generator, device, dtype):
        u = torch.randn(self._size(n), generator=generator, device=device, dtype=dtype)
        if self.std != 1.0:
            u.mul_(self.std)
        if self.mean != 0.0:
            u.add_(self.mean)
        return u


class Uniform(Noise):
    """``u ~ U[low, high)`` elementwise, shape ``(n, *shape)``."""

    def __init__(self, low: float = 0.0, high: float = 1.0, shape: int | Sequence[int] = ()):
        self.low = checks.finite_float("Uniform.low", low)
        self.high = checks.finite_float("Uniform.high", high)
        if self.high <= self.low:
            raise ParameterError(f"Uniform needs low < high, got low={self.low}, high={self.high}")
        self.shape = _shape(shape)

    def sample(self, n, generator, device, dtype):
        u = torch.rand(self._size(n), generator=generator, device=device, dtype=dtype)
        if (self.low, self.high) != (0.0, 1.0):
            u.mul_(self.high - self.low).add_(self.low)
        return u


class UniformBlocks(Uniform):
    """``u ~ U[0, 1)``, shape ``(n, Σ sizes)``: one vector per unit made of named blocks ``{name: size}`` (in order),
    for a mechanism whose noise has several parts (e.g. a specimen's part and an imaging session's)."""

    def __init__(self, blocks: Mapping[str, int]):
        self.blocks = {str(k): int(v) for k, v in blocks.items()}
        if not self.blocks or any(v < 0 for v in self.blocks.values()):
            raise ParameterError(f"UniformBlocks needs blocks of sizes >= 0, got {dict(blocks)}")
        super().__init__(shape=(sum(self.blocks.values()),))

    def split(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """The named blocks of ``u`` ``(n, Σ sizes)``, as views ``(n, size)``."""
        out, start = {}, 0
        for name, size in self.blocks.items():
            out[name] = u[:, start : start + size]
            start += size
        return out


class Laplace(Noise):
    """``u ~ Laplace(loc, scale)`` elementwise (inverse CDF of a uniform draw)."""

    def __init__(self, loc: float = 0.0, scale: float = 1.0, shape: int | Sequence[int] = ()):
        self.loc = checks.finite_float("Laplace.loc", loc)
        self.scale = checks.positive_float("Laplace.scale", scale)
        self.shape = _shape(shape)

    def sample(self, n, generator, device, dtype):
        eps = torch.finfo(dtype).eps
        v = torch.rand(self._size(n), generator=generator, device=device, dtype=dtype).clamp_min(eps) - 0.5
        return self.loc - self.scale * torch.sign(v) * torch.log1p(-2 * v.abs())


class Gumbel(Noise):
    """Standard Gumbel noise ``u = -log(-log(v))``, ``v ~ U(0, 1)``: the Gumbel-max trick for categorical nodes."""

    def __init__(self, shape: int | Sequence[int] = ()):
        self.shape = _shape(shape)

    def sample(self, n, generator, device, dtype):
        v = torch.rand(self._size(n), generator=generator, device=device, dtype=dtype)
        eps = torch.finfo(dtype).eps
        return -torch.log(-torch.log(v.clamp(eps, 1 - eps)))
