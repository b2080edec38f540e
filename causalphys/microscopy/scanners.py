"""Named scanners: each a distribution over the instrument's parameters, and the mechanism that draws them.

A preset is data (``causalphys/presets/scanner/*.yaml``, read by :func:`load_scanners`): for every instrument
parameter a range ``[low, high]`` from which a unit imaged on that scanner draws its value — uniformly, or
log-uniformly for the parameters listed in ``log_uniform`` (the dose spans decades). An instrument-parameter node's
mechanism :class:`PresetParameter` reads the ``scanner`` node (an index into the presets) and maps its own uniform
noise ``u`` to ``low + (high - low) u`` of that scanner: re-imaging a unit with another scanner keeps the unit's
quantile ``u`` (a counterfactual).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

import torch

from causalphys.errors import ParameterError
from causalphys.scm import noise as nz
from causalphys.scm.mechanism import Mechanism

PARAMETERS = (
    "probe_sigma",
    "probe_tail_fraction",
    "probe_tail_width",
    "z_exponent",
    "pixel_size",
    "scale_error_x",
    "scale_error_y",
    "scan_shear",
    "scan_rotation",
    "drift_speed",
    "dwell_time",
    "flyback_time",
    "line_jitter",
    "mains_amplitude",
    "dose",
    "gain",
    "offset",
    "read_noise",
    "saturation",
)
"""The instrument parameters every preset gives a range for (units as in :mod:`causalphys.microscopy.imaging`;
dose in e⁻/Å², gain in ADU per electron, offset, read noise and saturation in ADU)."""

POSITIVE_PARAMETERS = (
    "probe_sigma",
    "probe_tail_width",
    "z_exponent",
    "pixel_size",
    "dwell_time",
    "dose",
    "gain",
    "saturation",
)
"""The instrument parameters that must be > 0."""


def check_setting(node: str, value: float) -> None:
    """A ParameterError naming ``node`` where ``value`` lies outside its physical domain (> 0 for
    :data:`POSITIVE_PARAMETERS`, [0, 1] for ``probe_tail_fraction``); other nodes and non-numbers pass."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if node in POSITIVE_PARAMETERS and not value > 0:
        raise ParameterError(f"{node} must be > 0, got {value!r}")
    if node == "probe_tail_fraction" and not 0 <= value <= 1:
        raise ParameterError(f"probe_tail_fraction must lie in [0, 1], got {value!r}")


def check_settings(spec: Mapping[str, object]) -> None:
    """:func:`check_setting` for every ``{node: value}`` of an environment's interventions."""
    for node, value in spec.items():
        check_setting(node, value)


@dataclass(frozen=True)
class ScannerPreset:
    """A named scanner: ``ranges[parameter] = (low, high)`` for every parameter in :data:`PARAMETERS`."""

    name: str
    ranges: Mapping[str, Sequence[float]]
    log_uniform: Sequence[str] = ("dose",)
    description: str = ""
    references: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self):
        missing = [p for p in PARAMETERS if p not in self.ranges]
        unknown = [p for p in self.ranges if p not in PARAMETERS]
        if missing or unknown:
            raise ParameterError(f"scanner {self.name!r}: missing parameter ranges {missing}, unknown {unknown}")
        for p, bounds in self.ranges.items():
            if len(bounds) != 2:
                raise ParameterError(f"scanner {self.name!r}: range of {p} must be [low, high], got {list(bounds)}")
            low, high = float(bounds[0]), float(bounds[1])
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ParameterError(f"scanner {self.name!r}: range of {p} must have low <= high, got {list(bounds)}")
            try:
                check_setting(p, low)
                check_setting(p, high)
            except ParameterError as err:
                raise ParameterError(f"scanner {self.name!r}: {err} (range {list(bounds)})") from None
        for p in self.log_uniform:
            if p not in PARAMETERS:
                raise ParameterError(f"scanner {self.name!r}: log_uniform names unknown parameter {p!r}")
            if float(self.ranges[p][0]) <= 0:
                raise ParameterError(f"scanner {self.name!r}: log-uniform {p} needs a positive range")


class PresetParameter(Mechanism):
    """``x = low[s] + (high[s] - low[s]) · u`` (or log-uniform) for the scanner ``s`` of each unit; ``u ~ U(0, 1)``.

    Invertible given the scanner: ``u = (x - low) / (high - low)`` (``1/2`` where a range is a single value).
    """

    invertible = True

    def __init__(self, parameter: str, presets: Sequence[ScannerPreset], scanner: str = "scanner"):
        if parameter not in PARAMETERS:
            raise ParameterError(f"unknown instrument parameter {parameter!r}; parameters are {list(PARAMETERS)}")
        if not presets:
            raise ParameterError("PresetParameter needs at least one scanner preset")
        self.parameter = parameter
        self.presets = tuple(presets)
        self.scanner = scanner
        self.log = parameter in self.presets[0].log_uniform
        if any((parameter in p.log_uniform) != self.log for p in self.presets):
            raise ParameterError(f"presets disagree on whether {parameter} is log-uniform")
        self.noise = nz.Uniform()
        self.shape = ()

    def parent_names(self):
        return frozenset({self.scanner})

    def _bounds(self, scanner: torch.Tensor, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        index = scanner.long()
        if bool(((index < 0) | (index >= len(self.presets)) | (scanner != index)).any()):
            raise ParameterError(
                f"scanner must be an index in 0..{len(self.presets) - 1}, got {scanner.unique().tolist()}"
            )
        table = torch.tensor([list(map(float, p.ranges[self.parameter])) for p in self.presets], dtype=torch.float64)
        if self.log:
            table = table.log()
        table = table.to(device=scanner.device, dtype=dtype)[index]
        return table[:, 0], table[:, 1]

    def evaluate(self, parents, u, *, n, device, dtype):
        low, high = self._bounds(parents[self.scanner], dtype)
        value = low + (high - low) * u
        return value.exp() if self.log else value

    def invert(self, parents, value):
        low, high = self._bounds(parents[self.scanner], value.dtype)
        x = value.log() if self.log else value
        width = high - low
        return torch.where(width > 0, (x - low) / torch.where(width > 0, width, torch.ones_like(width)), 0.5)

    def __repr__(self):
        return f"PresetParameter({self.parameter!r}, {[p.name for p in self.presets]})"


def preset_list(scanners, key: str = "benchmark.scanners") -> tuple[ScannerPreset, ...]:
    """``scanners`` (``{name: preset}``, as Hydra composes them from ``causalphys/presets/scanner/``, or a sequence of
    presets) as a tuple of presets in order: at least one, every one a :class:`ScannerPreset`, no name twice (errors
    name ``key``)."""
    presets = list(scanners.values()) if isinstance(scanners, Mapping) else list(scanners)
    bad = [type(p).__name__ for p in presets if not isinstance(p, ScannerPreset)]
    if bad or not presets:
        raise ParameterError(f"{key} must be scanner presets, got {bad or 'none'}")
    names = [p.name for p in presets]
    if len(set(names)) != len(names):
        raise ParameterError(f"{key} has duplicate names: {names}")
    return tuple(presets)


DEFAULT_SCANNERS = ("corrected_200kv", "low_dose", "uncorrected_200kv", "drifty_older")
"""The shipped presets in the order of the ``scanner`` node's values (0 corrected_200kv, ..., 3 drifty_older)."""

_TARGET = f"{ScannerPreset.__module__}.{ScannerPreset.__qualname__}"


def load_scanners(names: Sequence[str] = DEFAULT_SCANNERS) -> list[ScannerPreset]:
    """The named scanner presets shipped with the package (``causalphys/presets/scanner/<name>.yaml``, the files
    Hydra composes as the ``scanner`` group), in the order given: their index is the ``scanner`` node's value.

    Read without Hydra (OmegaConf's YAML, as Hydra reads them), so it works from an installed package."""
    from omegaconf import OmegaConf

    folder = resources.files("causalphys.presets").joinpath("scanner")
    presets = []
    for name in names:
        file = folder.joinpath(f"{name}.yaml")
        if not file.is_file():
            known = sorted(f.name.removesuffix(".yaml") for f in folder.iterdir() if f.name.endswith(".yaml"))
            raise ParameterError(f"no config scanner/{name}.yaml in causalphys/presets; known scanner configs: {known}")
        settings = OmegaConf.to_container(OmegaConf.create(file.read_text(encoding="utf-8")), resolve=True)
        target = settings.pop("_target_", _TARGET)
        if target != _TARGET:
            raise ParameterError(f"scanner preset {name!r}: _target_ must be {_TARGET}, got {target!r}")
        presets.append(ScannerPreset(**settings))
    return presets
