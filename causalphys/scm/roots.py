"""Root distributions: mechanisms without parents, ``x = g(u)`` with ``u`` drawn from a fixed base noise.

Each is written as a transform of a standard base noise (``N(0, 1)`` or ``U(0, 1)``) so that the exogenous
variable is explicit: the continuous ones are invertible; the discrete ones (Bernoulli, Categorical) reuse the
recorded ``u`` for counterfactuals. Values are floating point in the sampling dtype, e.g. ``0.``/``1.``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.scm import noise as nz
from causalphys.scm.mechanism import Mechanism, as_tensor


class Constant(Mechanism):
    """``x = c``: one value for every unit, or one value per unit (the mechanism of a hard ``do``).

    ``value`` is a number or a tensor. With ``per_unit=None`` a tensor whose first dimension equals the batch size
    ``n`` is read as one value per unit; pass ``per_unit`` explicitly where a node's own first dimension could
    equal ``n``. With ``shape`` (the node's shape, known to a hard ``do`` from the mechanism it replaces) the value
    is broadcast to it: ``do(image=0.0)`` sets every pixel.
    """

    def __init__(self, value: float | torch.Tensor, per_unit: bool | None = None, shape=None):
        if isinstance(value, torch.Tensor):
            bad = value.is_floating_point() and not bool(torch.isfinite(value).all())
        else:
            try:
                bad = not math.isfinite(float(value))  # type: ignore[arg-type]
            except (TypeError, ValueError) as err:
                raise ParameterError(f"a constant must be a number or a tensor, got {value!r}") from err
        if bad:
            raise ParameterError(f"a constant must be finite, got {value!r}")
        self.value = value
        self.per_unit = per_unit
        self.shape = None if shape is None else tuple(int(s) for s in shape)

    def is_per_unit(self, n: int) -> bool:
        """Whether the stored value is read as one value per unit for a batch of ``n``."""
        if self.per_unit is not None:
            return self.per_unit
        return isinstance(self.value, torch.Tensor) and self.value.dim() >= 1 and self.value.shape[0] == n

    def evaluate(self, parents, u, *, n, device, dtype):
        v = as_tensor(self.value, device, dtype)
        if self.is_per_unit(n):
            if v.dim() == 0 or v.shape[0] != n:
                raise ParameterError(
                    f"a per-unit value needs first dimension {n} (the batch size), got {tuple(v.shape)}"
                )
        else:
            v = v.unsqueeze(0)
        if self.shape is None:
            return v.expand(n, *v.shape[1:]).clone()
        if v.dim() == 1:  # one number per unit (or for all): fills the node's whole shape
            v = v.view(-1, *(1,) * len(self.shape))
        try:
            return torch.broadcast_to(v, (n, *self.shape)).clone()
        except RuntimeError as err:
            if self.is_per_unit(n):
                raise ParameterError(
                    f"a per-unit value of shape {tuple(v.shape)}: each unit's {tuple(v.shape[1:])} does not fit the "
                    f"node's shape {self.shape}"
                ) from err
            raise ParameterError(
                f"a value of shape {tuple(v.shape[1:])} fits neither the node's shape {self.shape} (one value for "
                f"every unit) nor the batch of {n} units (one value per unit: first dimension {n})"
            ) from err

    def __repr__(self):
        v = self.value
        text = f"tensor{tuple(v.shape)}" if isinstance(v, torch.Tensor) and v.dim() > 0 else repr(v)
        return f"Constant({text})"


class Normal(Mechanism):
    """``x = mean + std * u``, ``u ~ N(0, 1)`` of shape ``shape``. Invertible."""

    invertible = True

    def __init__(self, mean: float = 0.0, std: float = 1.0, shape: int | Sequence[int] = ()):
        self.noise = nz.Normal(0.0, 1.0, shape)
        self.mean = checks.finite_float("Normal.mean", mean)
        self.std = checks.positive_float("Normal.std", std)
        self.shape = self.noise.shape

    def evaluate(self, parents, u, *, n, device, dtype):
        return u * self.std + self.mean

    def invert(self, parents, value):
        return (value - self.mean) / self.std

    def __repr__(self):
        return f"Normal(mean={self.mean}, std={self.std}, shape={self.shape})"


class LogNormal(Normal):
    """``x = exp(mean + std * u)``, ``u ~ N(0, 1)``: a positive quantity (a dose, a thickness). Invertible."""

    def evaluate(self, parents, u, *, n, device, dtype):
        return torch.exp(u * self.std + self.mean)

    def invert(self, parents, value):
        return (torch.log(value) - self.mean) / self.std

    def __repr__(self):
        return f"LogNormal(mean={self.mean}, std={self.std}, shape={self.shape})"


class Uniform(Mechanism):
    """``x = low + (high - low) * u``, ``u ~ U(0, 1)``. Invertible."""

    invertible = True

    def __init__(self, low: float = 0.0, high: float = 1.0, shape: int | Sequence[int] = ()):
        self.noise = nz.Uniform(0.0, 1.0, shape)
        self.low, self.high = float(low), float(high)
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ParameterError(f"Uniform needs finite low < high, got low={low}, high={high}")
        self.shape = self.noise.shape

    def evaluate(self, parents, u, *, n, device, dtype):
        return u * (self.high - self.low) + self.low

    def invert(self, parents, value):
        return (value - self.low) / (self.high - self.low)

    def __repr__(self):
        return f"Uniform(low={self.low}, high={self.high}, shape={self.shape})"


class Empirical(Mechanism):
    """``x = Q(u)``, ``u ~ U(0, 1)``, with ``Q`` the piecewise-linear quantile function of observed ``values``
    ``v_(0) <= ... <= v_(m-1)`` (``m >= 2``): ``Q(k / (m - 1)) = v_(k)``, linear in between. Samples stay within the
    observed range and follow the observed distribution (a root learned from data: a beam setting, a thickness).
    Invertible where the values are distinct: ``u = Q⁻¹(x)``, the same interpolation read backwards."""

    invertible = True

    def __init__(self, values):
        v = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
        bad = int((~v.isfinite()).sum())
        if v.numel() < 2 or bad:
            raise ParameterError(f"Empirical needs >= 2 finite values, got {v.numel()} ({bad} not finite)")
        self.values = torch.sort(v).values
        self.noise = nz.Uniform(0.0, 1.0)
        self.shape = ()

    def evaluate(self, parents, u, *, n, device, dtype):
        v = self.values.to(device)
        pos = u.to(torch.float64) * (len(v) - 1)
        low = pos.floor().clamp(0, len(v) - 2).long()
        return (v[low] + (pos - low) * (v[low + 1] - v[low])).to(dtype)

    def invert(self, parents, value):
        v = self.values.to(value.device)
        x = value.to(torch.float64).clamp(v[0], v[-1])
        high = torch.searchsorted(v, x, right=True).clamp(1, len(v) - 1)
        low = high - 1
        span = v[high] - v[low]
        frac = torch.where(span > 0, (x - v[low]) / torch.where(span > 0, span, 1.0), torch.zeros_like(x))
        return ((low + frac) / (len(v) - 1)).to(value.dtype)

    def __repr__(self):
        return f"Empirical({len(self.values)} values in [{float(self.values[0]):.4g}, {float(self.values[-1]):.4g}])"


class Bernoulli(Mechanism):
    """``x = 1[u < p]``, ``u ~ U(0, 1)``: ``1.`` with probability ``p``, else ``0.``."""

    def __init__(self, p: float, shape: int | Sequence[int] = ()):
        self.p = checks.probability("Bernoulli.p", p)
        self.noise = nz.Uniform(0.0, 1.0, shape)
        self.shape = self.noise.shape

    def evaluate(self, parents, u, *, n, device, dtype):
        return (u < self.p).to(dtype)

    def __repr__(self):
        return f"Bernoulli(p={self.p})"


class Categorical(Mechanism):
    """``x = k`` with probability ``probs[k]`` (inverse CDF of ``u ~ U(0, 1)``); values ``0., 1., ..., K-1``."""

    def __init__(self, probs: Sequence[float]):
        probs = [float(p) for p in probs]
        if len(probs) < 2:
            raise ParameterError(f"Categorical needs at least two categories, got probs={probs}")
        if any(not (0.0 <= p <= 1.0) for p in probs) or abs(sum(probs) - 1.0) > 1e-6:
            raise ParameterError(
                f"Categorical.probs must be probabilities summing to 1, got {probs} (sum {sum(probs)})"
            )
        self.probs = probs
        self.noise = nz.Uniform(0.0, 1.0)
        self.shape = ()

    def evaluate(self, parents, u, *, n, device, dtype):
        cdf = torch.cumsum(torch.tensor(self.probs, device=device, dtype=torch.float64), 0)[:-1]
        return torch.searchsorted(cdf, u.to(torch.float64).contiguous(), right=True).to(dtype)

    def __repr__(self):
        return f"Categorical(probs={self.probs})"
