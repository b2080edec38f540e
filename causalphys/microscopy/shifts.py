"""The scanner shifts: named sets of test environments of the confounded-lab SCM, each an intervention on its
``scanner`` node (the generic shifts, :class:`~causalphys.evaluation.shifts.NodeValues` and
:class:`~causalphys.evaluation.shifts.Interventions`, work on any SCM).

A shift is data (``conf/shift/*.yaml``); :meth:`~causalphys.evaluation.shifts.DistributionShift.environments` turns it
into ``{environment name: (interventions, EnvironmentInfo)}`` for a benchmark that exposes the small context below
(:class:`ShiftContext`, implemented by :class:`~causalphys.microscopy.shift_benchmark.ScannerShiftBenchmark`):

- :class:`HeldOutScanners` — a lab whose scanners are ones no training lab has (train on some, test on others).
- :class:`Severity` — every instrument parameter moved step by step from the training scanners to the held-out ones
  and past them (level 0 = training scanners, 1 = held-out scanners, 1.5 = half as far again): probe wider, drift
  and jitter up, calibration error up, as far as the target presets differ. A level is a distance along that path,
  not a difficulty: where the target is better in some respect (``drifty_older`` has a higher dose than
  ``low_dose``) the axis is not monotone in difficulty, and each environment's description says which parameters
  get harder and which easier along it (``EnvironmentInfo.axis``, :func:`moves`; the severity plot prints it).
- :class:`Routing` — the scanner-label association set to a given consistency (0.9 as in a training lab, 0.5 none,
  0.1 reversed): the ``lab -> scanner`` edge is cut and ``scanner := route(label)``.

Every environment a shift makes says which interventions made it (``EnvironmentInfo.description``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import torch

from causalphys import checks
from causalphys.data.benchmark import DistributionShift, EnvironmentInfo, check_levels
from causalphys.errors import ParameterError
from causalphys.microscopy.scanners import PARAMETERS, POSITIVE_PARAMETERS, ScannerPreset, check_settings
from causalphys.scm import catalog as mech
from causalphys.scm import noise as nz


def checked_environments(shift, ctx) -> dict[str, tuple[dict, EnvironmentInfo]]:
    """``shift.environments(ctx)`` with every environment's instrument settings checked against their physical domain
    (:func:`~causalphys.microscopy.scanners.check_settings`), whichever shift made them; a ParameterError names the
    shift. The microscopy benchmarks (the lab SCM's and the recorded images') make their shifts' environments here."""
    try:
        envs = shift.environments(ctx)
        for spec, _ in envs.values():
            check_settings(spec)
    except ParameterError as err:
        raise ParameterError(f"shift {shift.name!r}: {err}") from err
    return envs


class ShiftContext(Protocol):
    """What a scanner shift needs from a benchmark."""

    nodes: tuple[str, ...]
    train_scanners: tuple[str, str]

    def scanner_index(self, preset: ScannerPreset | str) -> int:
        """The ``scanner`` node's value for a preset (a name of a configured one, or a new preset to add)."""

    def lab_index(self, name: str) -> int:
        """The ``lab`` node's value of the named lab."""

    def preset(self, name: str) -> ScannerPreset:
        """The configured scanner preset called ``name``."""


def route(pair: tuple[int, int], consistency: float) -> mech.Function:
    """``scanner := pair[label]`` with probability ``consistency``, else ``pair[1 - label]`` (``u ~ U(0, 1)``)."""

    def scanner_of(label, u):
        table = torch.tensor(pair, dtype=u.dtype, device=u.device)
        routed = torch.where(u < consistency, label, 1 - label).long()
        return table[routed]

    return mech.Function(scanner_of, noise=nz.Uniform())


def interpolate(a: ScannerPreset, b: ScannerPreset, t: float) -> ScannerPreset:
    """The preset a fraction ``t`` of the way from ``a`` to ``b`` (``t > 1`` extrapolates past ``b``).

    Each end of each parameter range moves linearly, ``low_t = low_a + t (low_b - low_a)`` — geometrically for
    log-uniform parameters (the dose) — and is clamped to the parameter's valid domain (positive where it must be,
    the tail fraction in [0, 1]).
    """
    if t < 0:
        raise ParameterError(f"severity level must be >= 0, got {t}")
    ranges = {}
    for p in PARAMETERS:
        ends = []
        for x, y in zip(a.ranges[p], b.ranges[p]):
            x, y = float(x), float(y)
            if p in a.log_uniform and x > 0 and y > 0:
                v = math.exp(math.log(x) + t * (math.log(y) - math.log(x)))
            else:
                v = x + t * (y - x)
            if p in POSITIVE_PARAMETERS:
                v = max(v, 1e-3 * min(abs(x), abs(y)) or 1e-12)
            if p == "probe_tail_fraction":
                v = min(max(v, 0.0), 1.0)
            ends.append(v)
        ranges[p] = (min(ends), max(ends))
    return ScannerPreset(
        name=f"{a.name}->{b.name}@{t:g}",
        ranges=ranges,
        log_uniform=tuple(a.log_uniform),
        description=f"{t:g} of the way from {a.name} to {b.name}",
    )


# Which way an instrument parameter makes the image harder to read: +1 larger is harder, -1 smaller is harder,
# "abs" a larger magnitude is harder (a calibration error). Parameters absent here (pixel size, Z exponent, dwell
# and flyback times, detector gain and offset) have no such direction on their own.
HARDER = {
    "probe_sigma": +1,
    "probe_tail_fraction": +1,
    "probe_tail_width": +1,
    "drift_speed": +1,
    "line_jitter": +1,
    "mains_amplitude": +1,
    "read_noise": +1,
    "dose": -1,
    "saturation": -1,
    "scale_error_x": "abs",
    "scale_error_y": "abs",
    "scan_shear": "abs",
    "scan_rotation": "abs",
}


def _difficulty(preset: ScannerPreset, parameter: str) -> float:
    low, high = (float(v) for v in preset.ranges[parameter])
    direction = HARDER[parameter]
    if direction == "abs":
        return max(abs(low), abs(high))
    centre = math.sqrt(low * high) if parameter in preset.log_uniform and low > 0 else (low + high) / 2
    return direction * centre


def moves(a: ScannerPreset, b: ScannerPreset, tolerance: float = 0.05) -> dict[str, list[str]]:
    """``{"harder": [...], "easier": [...]}``: the parameters whose range (centre, or largest magnitude for the
    calibration errors) makes the image harder or easier to read going from ``a`` to ``b`` (by more than
    ``tolerance`` of the larger value; :data:`HARDER` gives each parameter's direction). A severity axis is monotone
    in difficulty only where ``easier`` is empty."""
    out: dict[str, list[str]] = {"harder": [], "easier": []}
    for p in HARDER:
        x, y = _difficulty(a, p), _difficulty(b, p)
        if abs(y - x) > tolerance * max(abs(x), abs(y), 1e-12):
            out["harder" if y > x else "easier"].append(p)
    return out


def describe_moves(a: ScannerPreset, b: ScannerPreset) -> str:
    """One short line for a plot or a table: ``a->b: 10 parameters harder (probe_sigma, ...), easier: dose``."""
    m = moves(a, b)
    harder = m["harder"]
    text = f"{a.name}->{b.name}: {len(harder)} parameter(s) harder"
    if harder:
        text += f" ({', '.join(harder[:3])}{', ...' if len(harder) > 3 else ''})"
    return text + (f", easier: {', '.join(m['easier'])}" if m["easier"] else ", none easier")


class HeldOutScanners(DistributionShift):
    """One test environment: the lab ``base_lab`` (its mains frequency) imaging with ``scanners`` (the preset names
    for label 0 and label 1), routed with ``consistency`` (0.5: the scanner says nothing about the label)."""

    def __init__(self, scanners: Sequence[str], consistency: float = 0.5, base_lab: str = "test", name: str = ""):
        if isinstance(scanners, str) or len(scanners) != 2:
            raise ParameterError(f"scanners must name two scanner presets, got {scanners!r}")
        self.scanners = tuple(str(s) for s in scanners)
        self.consistency = checks.probability("consistency", consistency)
        self.base_lab = str(base_lab)
        self.name = name or "heldout_scanners"

    def environments(self, ctx: ShiftContext) -> dict[str, tuple[dict, EnvironmentInfo]]:
        pair = (ctx.scanner_index(self.scanners[0]), ctx.scanner_index(self.scanners[1]))
        spec = {"lab": float(ctx.lab_index(self.base_lab)), "scanner": route(pair, self.consistency)}
        text = f"do(lab := {self.base_lab}), scanner := route(label -> {list(self.scanners)}, {self.consistency:g})"
        return {self.name: (spec, EnvironmentInfo("test", self.name, None, text))}


class Severity(DistributionShift):
    """Test environments at ``levels`` of severity: each training scanner ``a`` is replaced by the preset
    ``interpolate(a, toward[a], level)`` (module docstring), routed with ``consistency``, in lab ``base_lab``."""

    def __init__(
        self,
        toward: Mapping[str, str],
        levels: Sequence[float] = (0.0, 0.5, 1.0, 1.5),
        consistency: float = 0.5,
        base_lab: str = "test",
        name: str = "severity",
    ):
        if not isinstance(toward, Mapping) or not toward:
            raise ParameterError(f"toward must map each training scanner to a target scanner, got {toward!r}")
        self.toward = {str(k): str(v) for k, v in toward.items()}
        self.levels = check_levels(levels)
        negative = [v for v in self.levels if v < 0]
        if negative:
            raise ParameterError(f"severity levels must be >= 0, got {negative}")
        self.consistency = checks.probability("consistency", consistency)
        self.base_lab = str(base_lab)
        self.name = name

    def environments(self, ctx: ShiftContext) -> dict[str, tuple[dict, EnvironmentInfo]]:
        missing = [s for s in ctx.train_scanners if s not in self.toward]
        if missing:
            raise ParameterError(
                f"shift {self.name!r}: toward has no target for training scanner(s) {missing}; "
                f"it maps {sorted(self.toward)}"
            )
        out = {}
        along = " | ".join(describe_moves(ctx.preset(s), ctx.preset(self.toward[s])) for s in ctx.train_scanners)
        for level in self.levels:
            presets = [interpolate(ctx.preset(s), ctx.preset(self.toward[s]), level) for s in ctx.train_scanners]
            pair = (ctx.scanner_index(presets[0]), ctx.scanner_index(presets[1]))
            spec = {"lab": float(ctx.lab_index(self.base_lab)), "scanner": route(pair, self.consistency)}
            text = f"do(lab := {self.base_lab}), scanners {[p.name for p in presets]}, routing {self.consistency:g}"
            out[self.env_name(level)] = (spec, EnvironmentInfo("test", self.name, level, text, axis=along))
        return out


class Routing(DistributionShift):
    """Test environments in lab ``base_lab`` with the training scanners routed by label with each consistency in
    ``levels`` (the ``lab -> scanner`` edge cut): 0.1 reverses the training labs' association."""

    def __init__(self, levels: Sequence[float] = (0.9, 0.5, 0.1), base_lab: str = "test", name: str = "routing"):
        self.levels = tuple(checks.probability("levels", v) for v in check_levels(levels))
        self.base_lab = str(base_lab)
        self.name = name

    def environments(self, ctx: ShiftContext) -> dict[str, tuple[dict, EnvironmentInfo]]:
        pair = (ctx.scanner_index(ctx.train_scanners[0]), ctx.scanner_index(ctx.train_scanners[1]))
        out = {}
        for level in self.levels:
            spec = {"lab": float(ctx.lab_index(self.base_lab)), "scanner": route(pair, level)}
            text = f"do(lab := {self.base_lab}), scanner := route(label -> {list(ctx.train_scanners)}, {level:g})"
            out[self.env_name(level)] = (spec, EnvironmentInfo("test", self.name, level, text))
        return out
