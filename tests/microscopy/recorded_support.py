"""Helpers for the re-imaging tests: the real recorded image (read with h5py), a simulated one, and the measurements
(signal-to-noise ratio, scale read back from the Fourier transform) that the tests share."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from causalphys.microscopy.analysis import LatticeVectors
from causalphys.microscopy.detector import Detector
from tests.microscopy.physics import render

STEM_ENV = "CAUSALPHYS_STEM"
DATASET = "Experiments/__unnamed__/data"
AXIS = "Experiments/__unnamed__/axis-0"
SRTIO3 = 3.905  # Å, cubic perovskite lattice constant


def stem_path() -> Path:
    """The real SrTiO3 ADF image: ``$CAUSALPHYS_STEM``, else ``<repo root>/../shared/data/stem/srtio3_adf.hdf5``."""
    given = os.environ.get(STEM_ENV)
    if given:
        return Path(given)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "stem" / "srtio3_adf.hdf5"


def read_stem() -> tuple[torch.Tensor, float]:
    """``(image (400, 380) float32, pixel size in Å)`` of the real recording; a missing file fails the test, saying
    how to provide it (these physics tests must run on the real image, never be skipped)."""
    import h5py

    path = stem_path()
    if not path.is_file():
        pytest.fail(
            f"the real STEM image {path} is missing: set {STEM_ENV}=/path/to/srtio3_adf.hdf5 (a HyperSpy HDF5 file "
            f"with {DATASET!r} and the pixel size in nm as the attribute 'scale' of {AXIS!r}), or put it at {path}"
        )
    with h5py.File(path, "r") as f:
        image = torch.from_numpy(f[DATASET][()].astype(np.float32))
        pixel_size = 10.0 * float(f[AXIS].attrs["scale"])  # the file stores nm without saying so
    return image, pixel_size


def simulated_counts(n: int = 2, shape=(160, 160), pixel_size: float = 0.1, dose: float = 2e5, seed: int = 0):
    """A small simulated recording in electron counts: SrTiO3 along [001], a Gaussian probe of 0.45 Å (no tail),
    Poisson counts at ``dose`` e⁻/Å² (gain 1, offset 0, no read noise). Returns ``(counts (n, H, W) float32, expected
    counts (n, H, W) float64, mean detector fraction)``."""
    clean, _, _ = render(
        n=n, shape=shape, seed=seed, pixel_size=pixel_size, probe_sigma=0.45, probe_tail_fraction=0.0, background=0.005
    )
    detector = Detector(shape=shape)
    one = torch.ones(n, dtype=torch.float64)
    parents = {
        "clean": clean,
        "dose": dose * one,
        "pixel_area": pixel_size**2 * one,
        "gain": one,
        "offset": 0 * one,
        "read_noise": 0 * one,
        "saturation": 1e12 * one,
    }
    u = detector.sample_noise(n, torch.Generator().manual_seed(seed + 1), torch.device("cpu"), torch.float64)
    counts = detector.evaluate(parents, u, n=n, device=torch.device("cpu"), dtype=torch.float64)
    return counts.float(), clean * dose * pixel_size**2, float(clean.mean())


def snr(first: torch.Tensor, second: torch.Tensor, offset: float) -> float:
    """Signal over noise of two re-imagings of the same images that differ only in their session noise: the mean
    signal above ``offset``, over the noise ``std(first − second) / √2`` (the recording's own noise, shared by
    both, cancels in the difference)."""
    first, second = first.to(torch.float64), second.to(torch.float64)
    signal = 0.5 * float((first + second).mean()) - offset
    return signal / (float((first - second).std()) / math.sqrt(2))


def loglog_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``log x``."""
    return float(np.polyfit(np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float)), 1)[0])


def fast_axis_reflection(lattice: LatticeVectors) -> tuple[float, float]:
    """The reflection of ``lattice`` with the largest fast-axis component ``|k_x|``, as ``(k_x, k_y)``."""
    return max(lattice.k, key=lambda k: abs(k[0]))


def slow_axis_reflection(lattice: LatticeVectors) -> tuple[float, float]:
    """The reflection of ``lattice`` with the largest slow-axis component ``|k_y|``, as ``(k_x, k_y)``."""
    return max(lattice.k, key=lambda k: abs(k[1]))
