"""A tiny scanner-shift benchmark shared by the evaluation tests (32x32 images, a few dozen per environment)."""

from causalphys.microscopy.benchmark import load_labs
from causalphys.microscopy.scanners import load_scanners
from causalphys.microscopy.shift_benchmark import ScannerShiftBenchmark
from causalphys.microscopy.shifts import Severity

LABS = {
    lab: spec for lab, spec in load_labs().items() if lab != "heldout_scanners"
}  # the benchmark's training and test labs
TOWARD = {"corrected_200kv": "uncorrected_200kv", "low_dose": "drifty_older"}


def tiny_benchmark(shifts=(), **kwargs) -> ScannerShiftBenchmark:
    settings = dict(n_train=48, n_val=16, n_test=40, n_counterfactual=12, chunk=32, image_size=32)
    return ScannerShiftBenchmark(LABS, load_scanners(), shifts=shifts, **(settings | kwargs))


def severity(levels=(0.0, 1.0)) -> Severity:
    return Severity(TOWARD, levels=levels)
