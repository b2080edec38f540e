"""Throughput of the full microscopy chain (sample -> probe -> scan -> detector), in 64x64 images per second.

Prints one JSON document. For each named scanner (and the training lab's mix) it times drawing ``--n`` images of the
confounded-lab SCM (``scm.sample(n, nodes=["image"])``: every latent, the clean image and the detector), and the
peak memory above the baseline. The "noise floor" row times only drawing the exogenous noise those images need
(uniforms and normals from torch's generators): no implementation of the same model can be faster than that.

    .venv/bin/python benchmarks/microscopy_throughput.py [--n 2000] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import torch
from procmem import reset_peak, timed

import causalphys as cp
from causalphys.seeding import derive_seed, make_generator


def noise_floor(scm: cp.SCM, n: int):
    """Draw every node's exogenous noise for ``n`` units, as ``sample`` does, and nothing else."""

    needed = scm.graph.ancestors("image") | {"image"}  # once, outside the timed draw

    def draw():
        return {
            node: mech.sample_noise(n, make_generator(derive_seed(1, "node", node)), torch.device("cpu"), torch.float32)
            for node, mech in scm.mechanisms.items()
            if node in needed
        }

    return draw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    scanners = cp.load_scanners()
    scm = cp.microscopy.scanner_shift(scanners).scm
    cases = {"train_a mix (corrected + low_dose)": scm.do(lab=0.0)}
    cases.update({f"scanner {s.name}": scm.do(lab=0.0, scanner=float(i)) for i, s in enumerate(scanners)})
    scm.sample(64, seed=0, nodes=["image"])  # warm-up
    rows = []
    for name, model in cases.items():
        all_seconds, peaks, batch = timed(lambda m=model: m.sample(args.n, seed=1, nodes=["image"]), args.repeats)
        seconds, peak = min(all_seconds), min(peaks)
        image_bytes = batch["image"].nbytes
        rows.append(
            {
                "case": name,
                "images_per_second": args.n / seconds,
                "us_per_image": 1e6 * seconds / args.n,
                "seconds_all": all_seconds,
                "peak_bytes": peak,
                "peak_over_image_bytes": peak / image_bytes,
            }
        )
        del batch
    all_seconds, _, _ = timed(noise_floor(scm.do(lab=0.0), args.n), args.repeats)
    seconds = min(all_seconds)
    floor = {
        "case": "noise floor (exogenous draws only)",
        "images_per_second": args.n / seconds,
        "us_per_image": 1e6 * seconds / args.n,
        "seconds_all": all_seconds,
    }
    mix = rows[0]["images_per_second"]
    print(
        json.dumps(
            {
                "what": "64x64 ADF images through the full instrument chain, float32",
                "batch": args.n,
                "repeats": args.repeats,
                "machine": {
                    "torch": torch.__version__,
                    "threads": args.threads,
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_1min": os.getloadavg()[0],
                    "peak_memory_method": "clear_refs" if reset_peak() else "unavailable",
                },
                "rows": rows,
                "noise_floor": floor,
                "goal_images_per_second": 5000,
                "goal_met_for_mix": mix >= 5000,
                "fraction_of_noise_floor_for_mix": mix / floor["images_per_second"],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
