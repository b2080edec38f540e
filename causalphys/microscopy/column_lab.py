"""The column-finding SCM: a crystal imaged by one of several scanners, with the map of its columns as a node.

Graph (every latent a node)::

    scanner ──► instrument parameters ──► clean ──► image ◄── detector parameters
                                            ▲
    sample (lattice constant, rotation, strain, vacancies, background) ──► clean, columns
    placement (where the crystal sits, the frame's jitter and mains phase) ──► clean, columns
    instrument (scan) parameters ──► columns

``columns`` (:class:`~causalphys.microscopy.imaging.ColumnMap`) is the dense target: one channel per column kind,
a Gaussian of height 1 where each column appears in the image. It reads the same ``placement`` as the image, so an
intervention on the scanner (another instrument) moves the columns exactly as it moves them in the image, and the
counterfactual "the same specimen under another scanner" keeps both. Environments are ``do(scanner=s)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from causalphys.errors import ParameterError
from causalphys.microscopy.detector import Detector
from causalphys.microscopy.imaging import SAMPLE_ROLES as SAMPLE
from causalphys.microscopy.imaging import ColumnMap, ImageFormation
from causalphys.microscopy.lab import SCAN_PARAMETERS, detection_edges, pixel_area, specimen_ranges
from causalphys.microscopy.phases import SRTIO3_110, Phase
from causalphys.microscopy.scanners import PARAMETERS, PresetParameter, ScannerPreset
from causalphys.scm import catalog as mech
from causalphys.scm import noise as nz
from causalphys.scm.environments import Environments
from causalphys.scm.graph import CausalGraph
from causalphys.scm.model import SCM


def column_lab(
    scanners: Sequence[ScannerPreset],
    phase: Phase = SRTIO3_110,
    kinds: Sequence[str] = ("SrO", "Ti"),
    image_shape: tuple[int, int] = (64, 64),
    map_width: float = 0.3,
    lattice_constant: float = 3.905,
    lattice_spread: float = 0.01,
    rotation: tuple[float, float] = (0.0, 2 * math.pi),
    strain_std: float = 0.005,
    vacancy_fraction: tuple[float, float] = (0.0, 0.02),
    background: tuple[float, float] = (0.002, 0.02),
    mains_frequency: float = 50.0,
    exact_poisson_below: float = 10.0,
    max_cells: int = 16,
) -> SCM:
    """Build the column-finding SCM (module docstring): ``image`` ``(n, H, W)`` in ADU and ``columns``
    ``(n, len(kinds), H, W)``; the ``scanner`` node picks one of ``scanners`` at random (intervene to choose).

    The crystal is ``phase`` (SrTiO3 along [110] by default, the recorded image's) with lattice constant
    ``lattice_constant · (1 ± lattice_spread)``, any in-plane ``rotation`` in the range (rad), strain components
    ``N(0, strain_std²)``, a vacancy fraction and a background level uniform in their ranges. ``max_cells`` is the
    half-width of the grid of lattice cells the image formation renders (raise it when a strong drift or a small
    lattice constant reaches beyond it: the error says so).
    """
    scanners = tuple(scanners)
    if not scanners:
        raise ParameterError("column_lab needs at least one scanner preset")
    if not (lattice_constant > 0 and 0 <= lattice_spread < 1):
        raise ParameterError(
            f"lattice_constant must be > 0 (Å) and lattice_spread in [0, 1), got {lattice_constant}, {lattice_spread}"
        )
    low_r, high_r = specimen_ranges(rotation, strain_std)
    formation = ImageFormation(shape=image_shape, phases=(phase,), placement="placement", max_cells=max_cells)
    column_map = ColumnMap(
        tuple(kinds), "placement", width=map_width, shape=image_shape, phases=(phase,), max_cells=max_cells
    )
    image_parents = [*SAMPLE, *SCAN_PARAMETERS, "drift_angle", "mains_frequency", "placement"]
    edges = [("scanner", p) for p in PARAMETERS]
    edges += [(p, "clean") for p in image_parents] + [(p, "columns") for p in image_parents]
    edges += detection_edges()
    roles = {"scanner": "instrument", "drift_angle": "instrument", "mains_frequency": "instrument"}
    roles.update({p: "instrument" for p in PARAMETERS})
    roles.update({p: "sample" for p in (*SAMPLE, "placement")})
    roles["columns"] = "label"
    graph = CausalGraph(edges, roles=roles)

    def spread(u):
        return lattice_constant * (1 + lattice_spread * (2 * u - 1))

    low_v, high_v = vacancy_fraction
    mechanisms = {
        "scanner": mech.Categorical([1.0 / len(scanners)] * len(scanners)) if len(scanners) > 1 else mech.Constant(0.0),
        "drift_angle": mech.Uniform(0.0, 2 * math.pi),
        "mains_frequency": mech.Constant(float(mains_frequency)),
        "phase": mech.Constant(0.0),
        "lattice_constant": mech.Function(spread, noise=nz.Uniform())
        if lattice_spread
        else mech.Constant(lattice_constant),
        "rotation": mech.Uniform(low_r, high_r) if high_r > low_r else mech.Constant(low_r),
        "strain_xx": mech.Normal(0.0, strain_std),
        "strain_yy": mech.Normal(0.0, strain_std),
        "strain_xy": mech.Normal(0.0, strain_std),
        "vacancy_fraction": mech.Uniform(low_v, high_v) if high_v > low_v else mech.Constant(low_v),
        "background": mech.Uniform(*background),
        "placement": formation.placement_root(),
        "pixel_area": pixel_area(),
        "clean": formation,
        "columns": column_map,
        "image": Detector(shape=image_shape, exact_below=exact_poisson_below),
    }
    mechanisms.update({p: PresetParameter(p, scanners) for p in PARAMETERS})
    return SCM(graph, mechanisms)


def scanner_environments(scm: SCM, names: Sequence[str]) -> Environments:
    """One environment per scanner of the column lab, ``do(scanner=i)``, named ``names[i]``."""
    return Environments(scm, {name: {"scanner": float(i)} for i, name in enumerate(names)})
