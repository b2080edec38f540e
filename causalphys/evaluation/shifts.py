"""Shifts: named sets of test environments, each an intervention on the benchmark's SCM.

A shift is data (``conf/shift/*.yaml``); :meth:`DistributionShift.environments` turns it into
``{environment name: (interventions, EnvironmentInfo)}`` for a benchmark that exposes the small context the shift
asks for. The generic shifts, for any SCM:

- :class:`NodeValues` — a hard intervention ``do(node := value)`` per level (e.g. a fixed dose), for any SCM node
  (its context: :class:`NodeContext`).
- :class:`Interventions` — any interventions per level on top of a named environment, for any SCM
  (:class:`~causalphys.data.scm_benchmark.SCMBenchmark` is its context: :class:`InterventionContext`).

The scanner shifts of the confounded-lab SCM (held-out scanners, severity sweeps, routing) live beside the physics,
in :mod:`causalphys.microscopy.shifts`; re-imaging a recorded image as a worse instrument would have,
:class:`~causalphys.microscopy.degradation.Degradation`.

Every environment a shift makes says which interventions made it (``EnvironmentInfo.description``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from causalphys.data.benchmark import DistributionShift, EnvironmentInfo, check_levels
from causalphys.data.scm_benchmark import describe_interventions
from causalphys.errors import InterventionError, ParameterError
from causalphys.scm.interventions import parse_all


class NodeContext(Protocol):
    """What :class:`NodeValues` needs from a benchmark (or an SCM, with ``base_lab=None``)."""

    nodes: tuple[str, ...]

    def lab_index(self, name: str) -> int:
        """The ``lab`` node's value of the named lab (asked only where ``base_lab`` is set)."""


class NodeValues(DistributionShift):
    """``do(node := value)`` for each value in ``levels``, on top of lab ``base_lab`` (``None``: no lab).

    Any finite levels are accepted here; whether a value is physical is the benchmark's to check (the microscopy
    benchmarks check every environment's instrument settings: :func:`causalphys.microscopy.scanners.check_settings`).
    """

    def __init__(self, node: str, levels: Sequence[float], base_lab: str | None = "test", name: str = ""):
        self.node = str(node)
        self.levels = check_levels(levels)
        self.base_lab = base_lab
        self.name = name or self.node

    def environments(self, ctx: NodeContext) -> dict[str, tuple[dict, EnvironmentInfo]]:
        if self.node not in ctx.nodes:
            raise ParameterError(
                f"shift {self.name!r} names node {self.node!r}, which is not in the SCM; nodes are {list(ctx.nodes)}"
            )
        base = {} if self.base_lab is None else {"lab": float(ctx.lab_index(self.base_lab))}
        out = {}
        for level in self.levels:
            spec = {**base, self.node: level}
            text = ", ".join(f"do({k} := {v:g})" for k, v in spec.items())
            out[self.env_name(level)] = (spec, EnvironmentInfo("test", self.name, level, text))
        return out


class InterventionContext(Protocol):
    """What :class:`Interventions` needs from a benchmark (implemented by
    :class:`~causalphys.data.scm_benchmark.SCMBenchmark`)."""

    nodes: tuple[str, ...]

    def base_interventions(self, name: str) -> dict[str, object]:
        """The ``{node: spec}`` of the benchmark's environment ``name`` (a ParameterError for an unknown name)."""


class Interventions(DistributionShift):
    """Test environments on any SCM: environment ``base``'s interventions plus one level's, for each level.

    ``levels`` is either a list of ``{node: spec}`` (specs as :meth:`SCM.intervene
    <causalphys.scm.model.SCM.intervene>` reads them: a value, ``{"do": [...]}``, ``{"shift": d}``, ``{"scale": s}``,
    ...) — level ``i`` is environment ``"{name}={i}"`` with ``EnvironmentInfo.level = i`` — or, with ``node``, a list
    of numbers ``v``: ``do(node := v)``, environment ``"{name}={v:g}"`` at level ``v``. The environment's
    interventions are ``{**base_interventions(base), **level}`` (a level's spec of a node replaces the base's);
    ``base=None`` starts from the SCM as it is.
    """

    def __init__(
        self,
        levels: Sequence[Mapping[str, object]] | Sequence[float],
        node: str | None = None,
        base: str | None = None,
        name: str = "",
    ):
        if node is not None:
            self.levels = tuple({str(node): v} for v in check_levels(levels))
            self.values = tuple(float(v) for v in levels)
        else:
            if isinstance(levels, (str, bytes, Mapping)) or not isinstance(levels, Sequence) or not levels:
                raise ParameterError(f"levels must be a non-empty list of {{node: spec}} mappings, got {levels!r}")
            bad = [i for i, level in enumerate(levels) if not isinstance(level, Mapping) or not level]
            if bad:
                raise ParameterError(
                    f"levels[{bad[0]}] must be a non-empty mapping {{node: spec}}, got {levels[bad[0]]!r} (or give "
                    "node= and a list of numbers)"
                )
            for i, level in enumerate(levels):
                try:
                    parse_all(level)
                except (ParameterError, InterventionError) as err:
                    raise ParameterError(f"levels[{i}]: {err}") from err
            self.levels = tuple({str(k): v for k, v in level.items()} for level in levels)
            self.values = tuple(float(i) for i in range(len(levels)))
        self.node = None if node is None else str(node)
        self.base = None if base is None else str(base)
        self.name = name or self.node or "interventions"
        names = [self.env_name(v) for v in self.values]
        if len(set(names)) != len(names):
            raise ParameterError(f"shift {self.name!r}: levels give the same environment twice: {names}")

    def environments(self, ctx: InterventionContext) -> dict[str, tuple[dict, EnvironmentInfo]]:
        base = {} if self.base is None else ctx.base_interventions(self.base)
        out = {}
        for i, (level, value) in enumerate(zip(self.levels, self.values)):
            unknown = [k for k in level if k not in ctx.nodes]
            if unknown:
                raise ParameterError(
                    f"shift {self.name!r}: levels[{i}] names node(s) {unknown}, which are not in the SCM; nodes are "
                    f"{list(ctx.nodes)}"
                )
            spec = {**base, **level}
            text = describe_interventions(spec) + ("" if self.base is None else f" (on environment {self.base})")
            out[self.env_name(value)] = (spec, EnvironmentInfo("test", self.name, value, text))
        return out
