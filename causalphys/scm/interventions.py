"""Interventions as plain data.

An intervention turns a node's mechanism into another one. A mapping ``{node: spec}`` describes a (composed)
intervention on an SCM, and each ``spec`` is one of

- a number, a bool or a tensor: the hard intervention ``do(node := value)`` (a tensor whose first dimension is
  the batch size gives one value per unit);
- a :class:`~causalphys.scm.mechanism.Mechanism`: replace the node's mechanism (soft intervention);
- a :class:`~causalphys.scm.noise.Noise`: keep the function, change the noise distribution;
- a mapping with one key, as a config file would hold it: ``{"do": v}`` (with optional ``"per_unit"``),
  ``{"shift": d}`` (``x' = x + d``), ``{"scale": s}`` (``x' = s·x``), ``{"mechanism": m}``, ``{"noise": e}``;
- an :class:`Intervention` object, or a list of specs applied in order (``[{"scale": 2}, {"shift": 1}]``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from causalphys.errors import InterventionError, ParameterError
from causalphys.scm.mechanism import Mechanism
from causalphys.scm.noise import Noise
from causalphys.scm.roots import Constant


def _finite_number(name: str, value: object) -> float | torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ParameterError(f"{name} must be finite, got {value!r}")
        return value
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise ParameterError(f"{name} must be a number or a tensor, got {value!r}") from err
    if not math.isfinite(number):
        raise ParameterError(f"{name} must be finite, got {value!r}")
    return number


class Intervention:
    """Base class: ``apply(mechanism) -> mechanism``."""

    def apply(self, mechanism: Mechanism) -> Mechanism:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class Do(Intervention):
    """Hard intervention ``do(x := value)``: the node loses its parents and its noise."""

    def __init__(self, value: float | torch.Tensor, per_unit: bool | None = None):
        self.value = value
        self.per_unit = per_unit

    def apply(self, mechanism):
        return Constant(self.value, self.per_unit, shape=mechanism.shape)


class Replace(Intervention):
    """Soft intervention: the node gets a new mechanism (it may use a subset of the node's parents)."""

    def __init__(self, mechanism: Mechanism):
        if not isinstance(mechanism, Mechanism):
            raise InterventionError(f"Replace needs a Mechanism, got {mechanism!r}")
        self.mechanism = mechanism

    def apply(self, mechanism):
        return self.mechanism


class SetNoise(Intervention):
    """Soft intervention on the noise: same function, another exogenous distribution."""

    def __init__(self, noise: Noise | None):
        if noise is not None and not isinstance(noise, Noise):
            raise InterventionError(f"SetNoise needs a Noise, got {noise!r}")
        self.noise = noise

    def apply(self, mechanism):
        if mechanism.noise is None:
            raise InterventionError(f"cannot change the noise of a deterministic mechanism ({mechanism!r})")
        return mechanism.with_noise(self.noise)


class Shift(Intervention):
    """``x' = x + delta``: shift the node, keep its mechanism and noise."""

    def __init__(self, delta: float | torch.Tensor):
        self.delta = _finite_number("shift", delta)

    def apply(self, mechanism):
        return Affine(mechanism, scale=1.0, offset=self.delta)


class Scale(Intervention):
    """``x' = factor · x``: scale the node, keep its mechanism and noise (``factor`` non-zero)."""

    def __init__(self, factor: float | torch.Tensor):
        self.factor = _finite_number("scale", factor)
        if not isinstance(factor, torch.Tensor) and self.factor == 0.0:
            raise ParameterError("scale factor must be non-zero (x' = 0 is the hard intervention do(x := 0))")

    def apply(self, mechanism):
        return Affine(mechanism, scale=self.factor, offset=0.0)


class Chain(Intervention):
    """Interventions on one node applied in order."""

    def __init__(self, steps: Sequence[Intervention]):
        self.steps = list(steps)

    def apply(self, mechanism):
        for step in self.steps:
            mechanism = step.apply(mechanism)
        return mechanism


class Affine(Mechanism):
    """``x' = scale · base(parents, u) + offset``: a shifted or scaled mechanism; invertible if ``base`` is."""

    def __init__(self, base: Mechanism, scale: float | torch.Tensor = 1.0, offset: float | torch.Tensor = 0.0):
        if isinstance(base, Affine):  # fold nested affine maps into one
            scale, offset = base.scale * scale, base.offset * scale + offset
            base = base.base
        self.base, self.scale, self.offset = base, scale, offset
        self.noise = base.noise
        self.shape = base.shape
        self.invertible = base.invertible

    def parent_names(self):
        return self.base.parent_names()

    def required_parent_names(self):
        return self.base.required_parent_names()

    def check(self, node, parents):
        self.base.check(node, parents)

    def sample_noise(self, n, generator, device, dtype):
        return self.base.sample_noise(n, generator, device, dtype)

    def evaluate(self, parents, u, *, n, device, dtype):
        return self.base.evaluate(parents, u, n=n, device=device, dtype=dtype) * self.scale + self.offset

    def invert(self, parents, value):
        return self.base.invert(parents, (value - self.offset) / self.scale)

    def with_noise(self, noise):
        return Affine(self.base.with_noise(noise), self.scale, self.offset)

    def __repr__(self):
        return f"Affine({self.base!r}, scale={self.scale!r}, offset={self.offset!r})"


_KEYS = ("do", "shift", "scale", "mechanism", "noise")


def parse(spec: object, node: str = "?") -> Intervention:
    """Read one node's intervention ``spec`` (see the module docstring); errors name the node."""
    if isinstance(spec, Intervention):
        return spec
    if isinstance(spec, Mechanism):
        return Replace(spec)
    if isinstance(spec, Noise):
        return SetNoise(spec)
    if isinstance(spec, (bool, int, float, torch.Tensor)):
        return Do(spec)
    if isinstance(spec, Mapping):
        keys = [k for k in spec if k != "per_unit"]
        if len(keys) != 1 or keys[0] not in _KEYS or ("per_unit" in spec and keys[0] != "do"):
            raise InterventionError(
                f"intervention on node {node!r} must have exactly one of the keys {list(_KEYS)} "
                f"(and 'per_unit' only with 'do'), got keys {list(spec)}"
            )
        key, value = keys[0], spec[keys[0]]
        if key == "do":
            if isinstance(value, Sequence) and not isinstance(value, str):
                value = torch.as_tensor(list(value), dtype=torch.float64)
            return Do(value, spec.get("per_unit"))
        if key == "shift":
            return Shift(value)
        if key == "scale":
            return Scale(value)
        if key == "mechanism":
            return Replace(value)
        return SetNoise(value)
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        return Chain([parse(s, node) for s in spec])
    raise InterventionError(f"cannot read the intervention on node {node!r}: {spec!r} ({type(spec).__name__})")


def parse_all(interventions: Mapping[str, object] | None) -> dict[str, Intervention]:
    """Read ``{node: spec}`` into ``{node: Intervention}``."""
    if interventions is None:
        return {}
    if not isinstance(interventions, Mapping):
        raise InterventionError(f"interventions must be a mapping {{node: spec}}, got {interventions!r}")
    out = {}
    for node, spec in interventions.items():
        try:
            out[str(node)] = parse(spec, str(node))
        except ParameterError as err:
            raise InterventionError(f"intervention on node {node!r}: {err}") from err
    return out
