"""A shift for recorded images: the recording's instrument moved step by step toward a stated worse one.

:class:`Degradation` (``toward={"probe_sigma": 1.2, "dose": 300, "drift_speed": 2}``, ``levels=[0, 0.5, 1, 1.5]``)
makes one test environment per level. At level ``t`` every named node moves from its value in the SCM the
environment is applied to (for :func:`~causalphys.microscopy.recorded.recorded_scm`: the recorded default ``x₀``) a
fraction ``t`` of the way to its target ``x₁``::

    x_t = x₀ + t (x₁ − x₀)            (x_t = x₀ (x₁ / x₀)^t for the dose: geometrically, as doses span decades)

so level 0 is the recording itself, 1 the stated instrument and 1.5 half as far again. The start is read when the
intervention is applied (:class:`Toward`), so one shift serves every recording, whatever its resolution and dose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from causalphys.data.benchmark import DistributionShift, EnvironmentInfo
from causalphys.errors import InterventionError, ParameterError
from causalphys.microscopy.scanners import check_setting
from causalphys.scm.interventions import Intervention
from causalphys.scm.mechanism import Mechanism
from causalphys.scm.roots import Constant

GEOMETRIC = ("dose",)
"""The nodes that move geometrically (their values span decades)."""


class Toward(Intervention):
    """``do(x := x₀ + t (x₁ − x₀))`` — or ``x₀ (x₁ / x₀)^t`` with ``geometric`` — where ``x₀`` is the node's current
    value: its mechanism must be a constant, one value for every unit (an instrument node of a recorded SCM)."""

    def __init__(self, target: float, level: float, geometric: bool = False):
        self.target = float(target)
        self.level = float(level)
        self.geometric = bool(geometric)
        if not (math.isfinite(self.target) and math.isfinite(self.level)):
            raise ParameterError(f"Toward needs a finite target and level, got {target!r} and {level!r}")
        if self.geometric and self.target <= 0:
            raise ParameterError(f"a geometric move needs a target > 0, got {self.target:g}")

    def value(self, start: float) -> float:
        """The value a fraction ``level`` of the way from ``start`` to the target (``start`` itself at level 0)."""
        if self.level == 0:
            return start
        if self.geometric:
            if start <= 0:
                raise ParameterError(f"a geometric move needs a start > 0, got {start:g}")
            return start * (self.target / start) ** self.level
        return start + self.level * (self.target - start)

    def apply(self, mechanism: Mechanism) -> Mechanism:
        if not isinstance(mechanism, Constant) or mechanism.per_unit or getattr(mechanism.value, "dim", lambda: 0)():
            raise InterventionError(
                f"Toward moves a node from its one current value, but the node's mechanism is {mechanism!r}; it "
                "needs a constant (an instrument node of a recorded SCM)"
            )
        return Constant(self.value(float(mechanism.value)), shape=mechanism.shape)

    def __repr__(self):
        return f"Toward({self.target:g}, level={self.level:g}{', geometric' if self.geometric else ''})"


class Degradation(DistributionShift):
    """Test environments ``"{name}={level:g}"``: every node of ``toward`` moved a fraction ``level`` of the way
    from its recorded value to its target (module docstring), on top of lab ``base_lab`` (``None``: no lab).

    Level 0 is the recording; levels must be ``>= 0`` (a recording cannot be made better than it is).
    """

    def __init__(
        self,
        toward: Mapping[str, float],
        levels: Sequence[float] = (0.0, 0.5, 1.0, 1.5),
        base_lab: str | None = None,
        name: str = "degradation",
    ):
        if not isinstance(toward, Mapping) or not toward:
            raise ParameterError(f"toward must map instrument nodes to target values, got {toward!r}")
        targets = {}
        for node, value in toward.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ParameterError(f"toward[{node!r}] must be a finite number, got {value!r}")
            try:
                check_setting(node, value)
            except ParameterError as err:
                raise ParameterError(f"toward[{node!r}]: {err}") from None
            targets[str(node)] = float(value)
        self.toward = targets
        if isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence) or not levels:
            raise ParameterError(f"levels must be a non-empty list of numbers >= 0, got {levels!r}")
        bad = [v for v in levels if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf]
        if bad:
            raise ParameterError(f"levels must be finite numbers >= 0 (0 is the recording), got {bad}")
        self.levels = tuple(float(v) for v in levels)
        self.base_lab = base_lab
        self.name = name

    def environments(self, ctx) -> dict[str, tuple[dict, EnvironmentInfo]]:
        missing = [node for node in self.toward if node not in ctx.nodes]
        if missing:
            raise ParameterError(
                f"shift {self.name!r} names node(s) {missing}, which are not in the SCM; nodes are {list(ctx.nodes)}"
            )
        base = {} if self.base_lab is None else {"lab": float(ctx.lab_index(self.base_lab))}
        out = {}
        for level in self.levels:
            moves = {node: Toward(target, level, node in GEOMETRIC) for node, target in self.toward.items()}
            text = ", ".join(
                [*(f"do({k} := {v:g})" for k, v in base.items())]
                + [
                    f"{node} {level:g} of the way from recorded to {target:g}"
                    + (" (geometric)" if node in GEOMETRIC else "")
                    for node, target in self.toward.items()
                ]
            )
            out[self.env_name(level)] = ({**base, **moves}, EnvironmentInfo("test", self.name, level, text))
        return out
