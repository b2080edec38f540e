"""Recorded tiles re-imaged: an image benchmark's shifts and counterfactual views, through the instrument's physics.

A recorded environment (the tiles of an :class:`~causalphys.data.image_benchmark.ImageBenchmark` environment, raw
intensities at the benchmark's pixel size) is the root of a re-imaging SCM
(:func:`~causalphys.microscopy.recorded.recorded_scm`): its instrument nodes default to the recording's own
instrument (:class:`~causalphys.microscopy.recorded.RecordedInstrument`, estimated from the tiles where a setting
does not give it), and an intervention on them asks how a worse instrument would have recorded the same specimen.

- **Shifts** (``conf/shift/``: :class:`~causalphys.microscopy.degradation.Degradation`, ``NodeValues`` on an
  instrument node) make test environments: level ``ℓ`` of shift ``s`` re-images every tile of a source test
  environment — the one named by the shift's ``base_lab`` (a shift's spec holds it as ``lab``, the environment's
  index in :attr:`ReimagingContext.environments`), else the first test environment — under the level's
  interventions. The levels of one shift draw the same noise (common random numbers, seeded by
  ``derive_seed(seed, "reimage", s, chunk)``), so level to level only the instrument moves.
- **Counterfactual views**: each re-imaged environment's views are ``[the source tiles, the re-imaged tiles]``, unit
  by unit, so the harness's ``cf_flip_rate`` is how often a model's prediction for a tile changes when only the
  instrument moves — no label needed.

The re-imaged tiles are raw intensities like the recorded ones; the benchmark standardises both the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from causalphys.data.benchmark import EnvironmentInfo
from causalphys.errors import CausalPhysError, ParameterError
from causalphys.microscopy.recorded import RecordedInstrument, recorded_scm
from causalphys.microscopy.redetection import SCAN_MOVES
from causalphys.microscopy.shifts import checked_environments
from causalphys.seeding import derive_seed

CHUNK = 256
"""Tiles re-imaged together (bounded memory: the re-imaging works on several float64 copies of a chunk)."""


class ReimagingContext:
    """What a shift sees of a recorded benchmark: the re-imaging SCM's ``nodes``, and ``lab_index(name)``, the
    index of a test environment in :attr:`environments` (the environment whose tiles a shift re-images)."""

    def __init__(self, nodes: Sequence[str], environments: Sequence[str]):
        self.nodes = tuple(nodes)
        self.environments = tuple(environments)

    def lab_index(self, name: str) -> int:
        if name not in self.environments:
            raise ParameterError(
                f"base_lab {name!r} is not a test environment of the benchmark; test environments are "
                f"{list(self.environments)}"
            )
        return self.environments.index(name)


def instrument_of_tiles(images: torch.Tensor, pixel_size: float, settings: Mapping[str, object]):
    """The recorded instrument of tiles ``(n, h, w)`` at ``pixel_size`` Å: the values ``settings`` gives
    (``probe_sigma``, ``dose``, ``counts``, ``black_level``, ``gain``, ``mean_fraction``, ...; see
    :meth:`RecordedInstrument.from_images`), the rest estimated from the tiles."""
    try:
        return RecordedInstrument.from_images(images, pixel_size, **settings)
    except TypeError as err:  # an unknown setting
        raise ParameterError(f"benchmark.recorded: {err}") from err


def reimage_tiles(
    images: torch.Tensor, instrument: RecordedInstrument, spec: Mapping[str, object], seed: int, stream: str
) -> torch.Tensor:
    """``images`` ``(n, h, w)`` re-imaged under the interventions ``spec`` on the instrument nodes: the ``image``
    node of ``recorded_scm(images, instrument)`` with ``do(recorded := images)`` unit by unit, ``(n, h, w)``.
    Chunk ``k`` draws its noise with ``derive_seed(seed, "reimage", stream, k)``."""
    scm = recorded_scm(images[:1], instrument)
    try:
        shifted = scm.intervene(dict(spec))
    except CausalPhysError as err:
        raise ParameterError(f"re-imaging {list(spec)}: {err}") from err
    out = []
    for k, start in enumerate(range(0, len(images), CHUNK)):
        part = images[start : start + CHUNK]
        batch = shifted.do(recorded=part).sample(
            len(part), seed=derive_seed(seed, "reimage", stream, k), nodes=["image"]
        )
        out.append(batch["image"])
    return torch.cat(out) if out else images.clone()


def shifted_environments(
    shifts: Sequence,
    tests: Mapping[str, torch.Tensor],
    instruments: Mapping[str, RecordedInstrument],
    seed: int,
    existing: Sequence[str] = (),
) -> dict[str, tuple[str, torch.Tensor, EnvironmentInfo]]:
    """``{environment: (source environment, re-imaged tiles (n, h, w), EnvironmentInfo)}`` for every level of
    every shift (module docstring). ``tests`` are the raw tiles of the test environments, ``instruments`` their
    recorded instruments; ``existing`` the names already taken."""
    if not tests:
        raise ParameterError("shifts re-image the tiles of a test environment, but the benchmark has none")
    names = list(tests)
    nodes = recorded_scm(next(iter(tests.values()))[:1], next(iter(instruments.values()))).nodes
    ctx = ReimagingContext(nodes, names)
    out: dict[str, tuple[str, torch.Tensor, EnvironmentInfo]] = {}
    for shift in shifts:
        made = checked_environments(shift, ctx)
        for env, (spec, info) in made.items():
            if env in out or env in existing:
                raise ParameterError(f"shift {shift.name!r} makes environment {env!r}, which already exists")
            spec = dict(spec)
            source = names[int(spec.pop("lab"))] if "lab" in spec else names[0]
            try:
                images = reimage_tiles(tests[source], instruments[source], spec, seed, f"shift:{shift.name}")
            except ParameterError as err:
                raise ParameterError(f"shift {shift.name!r}, environment {env!r}: {err}") from err
            text = f"{source} re-imaged: {info.description}; recorded {instruments[source].describe()}"
            out[env] = (source, images, EnvironmentInfo("test", info.shift, info.level, text))
    return out


# The instrument nodes a prior draws for re-imaged training views: optics, scan and dose. The detector's (gain,
# offset, read noise, saturation) are in each recording's own units and cancel in the per-tile standardisation.
PRIOR_NODES = ("probe_sigma", "dose", *SCAN_MOVES)


def physical_ranges(prior, instrument: RecordedInstrument) -> dict[str, tuple[float, float]]:
    """``{node: (low, high)}``: the ``prior``'s ranges (a :class:`~causalphys.microscopy.scanners.ScannerPreset`)
    restricted to what a recording allows — a probe no narrower and a dose no higher than recorded (where the
    whole range lies beyond the recording, the recorded value itself)."""
    ranges = {}
    for node in PRIOR_NODES:
        low, high = (float(v) for v in prior.ranges[node])
        if node == "probe_sigma":
            low, high = max(low, instrument.probe_sigma), max(high, instrument.probe_sigma)
        elif node == "dose":
            low, high = min(low, instrument.dose), min(high, instrument.dose)
        ranges[node] = (low, high)
    return ranges


def prior_views(
    images: torch.Tensor, instrument: RecordedInstrument, prior, per_unit: int, seed: int, stream: str
) -> torch.Tensor:
    """``(n, per_unit, h, w)``: every tile of ``images`` ``(n, h, w)`` re-imaged ``per_unit`` times, each time
    under instrument values drawn per tile from ``prior`` (:func:`physical_ranges`: only what is physical from
    the recording; dose log-uniform, the drift's direction uniform), with fresh noise. Values for chunk ``k`` of
    view ``j`` come from ``derive_seed(seed, "views", stream, j, k)``."""
    ranges = physical_ranges(prior, instrument)
    views = []
    for j in range(per_unit):
        shots = []
        for k, start in enumerate(range(0, len(images), CHUNK)):
            part = images[start : start + CHUNK]
            g = torch.Generator().manual_seed(derive_seed(seed, "views", stream, j, k))
            spec = {}
            for node, (low, high) in ranges.items():
                u = torch.rand(len(part), generator=g, dtype=torch.float64)
                if node == "dose" and low > 0:
                    spec[node] = torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))
                else:
                    spec[node] = low + u * (high - low)
            spec["drift_angle"] = 2 * math.pi * torch.rand(len(part), generator=g, dtype=torch.float64)
            shots.append(reimage_tiles(part, instrument, spec, seed, f"views:{stream}:{j}:{k}"))
        views.append(torch.cat(shots))
    return torch.stack(views, dim=1)
