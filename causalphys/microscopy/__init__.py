"""Scanning transmission electron microscopy as a structural causal model: sample, probe, scan, detector.

``confounded_lab`` builds the SCM in which a lab's choice of scanner confounds the label; ``scanner_shift`` gives its
default environments and ``ScannerShiftBenchmark`` serves them to the harness, with ``HeldOutScanners``, ``Severity``
and ``Routing`` as its shifts (more test environments); ``column_lab`` images a crystal with the map of its columns (the
dense target of a column finder). ``recorded_scm`` makes a recorded image the root of an SCM, to re-image it as a worse
instrument would have recorded it (``Degradation`` is the matching shift). The mechanisms (``ImageFormation``,
``Detector``, ``PresetParameter``, ``Reimaging``) can be reused in any graph.
"""

from causalphys.microscopy.analysis import (
    CUBIC_ZONE_AXES,
    ColumnFits,
    LatticeVectors,
    ZoneAxis,
    column_widths,
    cubic_zone_axis,
    fft_peak,
    lattice_vectors,
    noise_variance,
    signal_cutoff,
)
from causalphys.microscopy.benchmark import DEFAULT_LABS, lab_objects, load_labs, scanner_shift, unconfounded_scanner
from causalphys.microscopy.column_lab import column_lab
from causalphys.microscopy.degradation import Degradation, Toward
from causalphys.microscopy.detector import Detector
from causalphys.microscopy.imaging import ColumnMap, ImageFormation
from causalphys.microscopy.lab import LAB_TASKS, Lab, confounded_lab
from causalphys.microscopy.phases import HEXAGONAL, PEROVSKITE, PHASES, SRTIO3_110, Phase
from causalphys.microscopy.poisson import poisson_icdf
from causalphys.microscopy.recorded import RecordedInstrument, RecordedStack, instrument_of, recorded_scm
from causalphys.microscopy.redetection import INSTRUMENT_NODES, Reimaging, binomial_icdf
from causalphys.microscopy.scanners import PARAMETERS, PresetParameter, ScannerPreset
from causalphys.microscopy.shift_benchmark import SPECIMEN_OPTIONS, ScannerShiftBenchmark
from causalphys.microscopy.shifts import HeldOutScanners, Routing, Severity

__all__ = [
    "DEFAULT_LABS",
    "lab_objects",
    "load_labs",
    "HEXAGONAL",
    "INSTRUMENT_NODES",
    "PARAMETERS",
    "PEROVSKITE",
    "PHASES",
    "SPECIMEN_OPTIONS",
    "SRTIO3_110",
    "LAB_TASKS",
    "CUBIC_ZONE_AXES",
    "ColumnFits",
    "ColumnMap",
    "Degradation",
    "Detector",
    "ImageFormation",
    "HeldOutScanners",
    "Lab",
    "LatticeVectors",
    "Phase",
    "PresetParameter",
    "RecordedInstrument",
    "RecordedStack",
    "Reimaging",
    "Routing",
    "ScannerPreset",
    "ScannerShiftBenchmark",
    "Severity",
    "Toward",
    "ZoneAxis",
    "binomial_icdf",
    "column_lab",
    "column_widths",
    "cubic_zone_axis",
    "confounded_lab",
    "fft_peak",
    "instrument_of",
    "lattice_vectors",
    "noise_variance",
    "poisson_icdf",
    "recorded_scm",
    "scanner_shift",
    "signal_cutoff",
    "unconfounded_scanner",
]
