"""Scanning transmission electron microscopy as a structural causal model: sample, probe, scan, detector.

``confounded_lab`` builds the SCM in which a lab's choice of scanner confounds the label; ``scanner_shift`` gives its
default environments. The mechanisms (``ImageFormation``, ``Detector``, ``PresetParameter``) can be reused in any
graph.
"""

from causalphys.microscopy.analysis import fft_peak
from causalphys.microscopy.benchmark import DEFAULT_LABS, scanner_shift, unconfounded_scanner
from causalphys.microscopy.detector import Detector, poisson_icdf
from causalphys.microscopy.imaging import ImageFormation
from causalphys.microscopy.lab import TASKS, Lab, confounded_lab
from causalphys.microscopy.phases import HEXAGONAL, PEROVSKITE, PHASES, Phase
from causalphys.microscopy.scanners import PARAMETERS, PresetParameter, ScannerPreset

__all__ = [
    "DEFAULT_LABS",
    "HEXAGONAL",
    "PARAMETERS",
    "PEROVSKITE",
    "PHASES",
    "TASKS",
    "Detector",
    "ImageFormation",
    "Lab",
    "Phase",
    "PresetParameter",
    "ScannerPreset",
    "confounded_lab",
    "fft_peak",
    "poisson_icdf",
    "scanner_shift",
    "unconfounded_scanner",
]
