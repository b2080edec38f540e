"""Mechanisms built around a user function of the parents.

- :class:`Function`: the general ``x = f(parents, u)``; counterfactuals through it need the recorded noise.
- :class:`Additive`: ``x = f(parents) + u``, invertible (``u = x - f(parents)``), so counterfactuals are exact.
- :class:`Linear`: ``x = b + Σ_p w_p · p + u``, the additive mechanism of linear-Gaussian models.

Parents are passed to ``f`` as keyword arguments named after them, each a batch-first tensor ``(n, *shape_p)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from causalphys.errors import ParameterError
from causalphys.scm import noise as nz
from causalphys.scm.mechanism import Mechanism, as_tensor, call_signature


def _describe(f: Callable) -> str:
    return getattr(f, "__qualname__", None) or repr(f)


def _shape(shape: int | Sequence[int] | None) -> tuple[int, ...] | None:
    if shape is None:
        return None
    return (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)


class Function(Mechanism):
    """The general mechanism ``x = f(**parents, u=u)``.

    ``f`` names each parent as an argument, plus ``u`` for the noise when ``noise`` is given. Not invertible in
    general: counterfactuals through it use the noise recorded at sampling. ``shape`` (optional) is the node's
    shape without the batch dimension, checked after every call.
    """

    def __init__(self, f: Callable[..., torch.Tensor], noise: nz.Noise | None = None, shape=None):
        self.f = f
        self.noise = noise
        self.shape = _shape(shape)
        self._accepted, self._required = call_signature(f, exclude=("u",) if noise is not None else ())

    def parent_names(self):
        return self._accepted

    def required_parent_names(self):
        return self._required

    def evaluate(self, parents, u, *, n, device, dtype):
        if self.noise is None:
            return self.f(**parents)
        return self.f(**parents, u=u)

    def with_noise(self, noise):
        return Function(self.f, noise, self.shape)

    def __repr__(self):
        return f"Function({_describe(self.f)}, noise={self.noise!r})"


class Additive(Mechanism):
    """The additive-noise mechanism ``x = f(**parents) + u``. Invertible: ``u = x - f(**parents)``.

    ``noise=None`` makes the node a deterministic function of its parents.
    """

    invertible = True

    def __init__(self, f: Callable[..., torch.Tensor], noise: nz.Noise | None = None, shape=None):
        self.f = f
        self.noise = noise
        self.shape = _shape(shape) if shape is not None else (noise.shape if noise is not None else None)
        self._accepted, self._required = call_signature(f)

    def parent_names(self):
        return self._accepted

    def required_parent_names(self):
        return self._required

    def predict(self, parents: Mapping[str, torch.Tensor], *, n, device, dtype) -> torch.Tensor:
        """The noiseless part ``f(**parents)`` as a tensor."""
        return as_tensor(self.f(**parents), device, dtype)

    def evaluate(self, parents, u, *, n, device, dtype):
        mean = self.predict(parents, n=n, device=device, dtype=dtype)
        if u is None:
            return mean if mean.dim() and mean.shape[0] == n else mean.expand(n, *mean.shape).clone()
        return mean + u

    def invert(self, parents, value):
        mean = self.predict(parents, n=value.shape[0], device=value.device, dtype=value.dtype)
        return value - mean

    def with_noise(self, noise):
        new = super().with_noise(noise)
        new.shape = None if noise is None else noise.shape
        return new

    def __repr__(self):
        return f"Additive({_describe(self.f)}, noise={self.noise!r})"


class Linear(Additive):
    """``x = bias + Σ_p weights[p] · p + u``: linear structural equation with additive noise.

    ``weights`` maps each parent to a coefficient (a number, or a tensor that broadcasts against the parent).
    """

    def __init__(self, weights: Mapping[str, float] | None = None, bias: float = 0.0, noise: nz.Noise | None = None):
        weights = dict(weights or {})
        for name, w in weights.items():
            if not isinstance(w, torch.Tensor) and not isinstance(w, (int, float)):
                raise ParameterError(f"Linear weight for parent {name!r} must be a number or a tensor, got {w!r}")
        self.weights = weights
        self.bias = bias
        self.noise = nz.Normal() if noise is None else noise
        self.shape = self.noise.shape
        self._accepted = self._required = frozenset(weights)

    def predict(self, parents, *, n, device, dtype):
        out = as_tensor(self.bias, device, dtype)
        for name, w in self.weights.items():
            out = out + as_tensor(w, device, dtype) * parents[name]
        return out

    def evaluate(self, parents, u, *, n, device, dtype):
        """``u + Σ w_p · p + bias`` accumulated into one new tensor (one pass per parent, no temporaries)."""
        if u is None or any(isinstance(w, torch.Tensor) for w in self.weights.values()):
            return super().evaluate(parents, u, n=n, device=device, dtype=dtype)
        out = u
        for name, w in self.weights.items():
            p = parents[name]
            if out is u or torch.broadcast_shapes(out.shape, p.shape) != out.shape:
                out = torch.add(out, p, alpha=w)  # a new tensor: the noise u stays as drawn
            else:
                out.add_(p, alpha=w)
        if out is u:
            out = u.clone()
        return out.add_(self.bias) if self.bias != 0 else out

    def __repr__(self):
        return f"Linear(weights={self.weights}, bias={self.bias}, noise={self.noise!r})"
