"""Speed of the detector's shot and read noise: microseconds per 64x64 image (batch 1000, float32, 2 threads).

Prints one JSON document on stdout, one row per (operation, rate range)::

    python benchmarks/detector_noise.py            # batch 1000, best of 5
    python benchmarks/detector_noise.py --quick    # smoke test: batch 50, 1 repeat

Operations: ``torch.randn`` and ``torch.rand`` (the raw draws); ``torch.poisson`` and our ``poisson_icdf`` with a
rate drawn per pixel uniformly in [0, 2] (low dose), [0, 20] and [50, 5000] (high dose); ``Detector.sample_noise``
and ``Detector.evaluate`` (given the noise) with ``dose · pixel_area · clean`` spanning the same ranges
(pixel area 0.01 Å², clean ~ U[0, 1] or U[0.01, 1], dose 200, 2000 or 5e5 e-/Å²). Times are wall clock, best and
median of ``--repeats`` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

from causalphys.microscopy.detector import Detector
from causalphys.microscopy.poisson import poisson_icdf

SHAPE = (64, 64)
LEVELS = {  # rate range: (dose e-/Å², clean low, clean high); pixel area 0.01 Å²
    (0.0, 2.0): (200.0, 0.0, 1.0),
    (0.0, 20.0): (2000.0, 0.0, 1.0),
    (50.0, 5000.0): (5e5, 0.01, 1.0),
}


def timed(fn, repeats: int, batch: int) -> dict:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"us_per_image": 1e6 * min(times) / batch, "us_per_image_median": 1e6 * statistics.median(times) / batch}


def level_rows(det: Detector, u: torch.Tensor, rates, setting, g: torch.Generator, repeats: int) -> list[dict]:
    """torch.poisson, poisson_icdf and Detector.evaluate with per-pixel rates uniform in ``rates``."""
    (lo, hi), (dose, c_lo, c_hi) = rates, setting
    n = u.shape[0]
    size = (n, *SHAPE)
    rate = lo + (hi - lo) * torch.rand(size, generator=g)
    shot = u[:, 0].contiguous()
    parents = {
        "clean": c_lo + (c_hi - c_lo) * torch.rand(size, generator=g),
        "dose": torch.full((n,), dose),
        "pixel_area": torch.full((n,), 0.01),
        "gain": torch.full((n,), 1.0),
        "offset": torch.full((n,), 100.0),
        "read_noise": torch.full((n,), 3.0),
        "saturation": torch.full((n,), 65535.0),
    }
    ops = {
        "torch.poisson": lambda: torch.poisson(rate, g),
        "poisson_icdf": lambda: poisson_icdf(rate, shot),
        "Detector.evaluate": lambda: det.evaluate(parents, u, n=n, device=u.device, dtype=u.dtype),
    }
    return [{"op": op, "rates": [lo, hi], **timed(fn, repeats, n)} for op, fn in ops.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="batch 50, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.repeats = 50, 1
    torch.set_num_threads(args.threads)
    n, cpu, f32 = args.batch, torch.device("cpu"), torch.float32
    g = torch.Generator().manual_seed(0)
    size = (n, *SHAPE)
    rows = [
        {"op": "torch.randn", "rates": None, **timed(lambda: torch.randn(size, generator=g), args.repeats, n)},
        {"op": "torch.rand", "rates": None, **timed(lambda: torch.rand(size, generator=g), args.repeats, n)},
    ]
    det = Detector(SHAPE)
    rows.append(
        {
            "op": "Detector.sample_noise",
            "rates": None,
            **timed(lambda: det.sample_noise(n, g, cpu, f32), args.repeats, n),
        }
    )
    u = det.sample_noise(n, g, cpu, f32)
    for rates, setting in LEVELS.items():
        rows += level_rows(det, u, rates, setting, g, args.repeats)
    doc = {
        "machine": {
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_1min_at_start": os.getloadavg()[0],
        },
        "settings": {"batch": n, "image": list(SHAPE), "dtype": "float32", "repeats": args.repeats},
        "rows": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()} for row in rows],
    }
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
