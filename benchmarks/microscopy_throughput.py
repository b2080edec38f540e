"""Throughput of the full microscopy chain (sample -> probe -> scan -> detector), in 64x64 images per second.

Prints one JSON document. For each named scanner (and the training lab's mix) it times drawing ``--n`` images of the
confounded-lab SCM (``scm.sample(n, nodes=["image"])``: every latent, the clean image and the detector), and the
peak memory above the baseline. The "noise floor" row times only drawing the exogenous noise those images need
(uniforms and normals from torch's generators): no implementation of the same model can be faster than that.

    .venv/bin/python benchmarks/microscopy_throughput.py [--n 2000] [--repeats 3] [--threads 2] [--device cpu]

With ``--device cuda`` the images are drawn on the GPU (every generator and tensor there, the time taken after
``torch.cuda.synchronize``; peak memory is the GPU's ``max_memory_allocated``), and an ``agreement`` block checks the
GPU path against the CPU one: ``--n-check`` units of the mix are drawn on the CPU with their exogenous noise, the
same units are recomputed on the GPU from that noise (a counterfactual under the lab they came from, so every node
downstream of it is evaluated again), and the images are compared pixel by pixel; and two draws with one seed on
the GPU are compared.
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


def noise_floor(scm: cp.SCM, n: int, device: torch.device):
    """Draw every node's exogenous noise for ``n`` units, as ``sample`` does, and nothing else."""

    needed = scm.graph.ancestors("image") | {"image"}  # once, outside the timed draw

    def draw():
        return {
            node: mech.sample_noise(n, make_generator(derive_seed(1, "node", node), device), device, torch.float32)
            for node, mech in scm.mechanisms.items()
            if node in needed
        }

    return draw


def agreement(scm: cp.SCM, n: int, device: torch.device) -> dict:
    """The same units through the chain on the CPU and, from the CPU's recorded noise, on ``device``."""
    lab = scm.do(lab=0.0)
    cpu = lab.sample(n, seed=2, return_noise=True)
    again = lab.counterfactual(cpu.to(device), do={"lab": 0.0})
    other, clean = again["image"].cpu(), again["clean"].cpu()
    diff = (other - cpu["image"]).abs()
    twice = [lab.sample(n, seed=3, nodes=["image"], device=device)["image"] for _ in range(2)]
    return {
        "units": n,
        "same_seed_same_images_on_the_device": bool(torch.equal(*twice)),
        "pixels_identical": float((diff == 0).double().mean()),
        "max_abs_difference": float(diff.max()),
        "image_range": [float(cpu["image"].min()), float(cpu["image"].max())],
        "clean_max_relative_difference": float(
            ((clean - cpu["clean"]).abs() / cpu["clean"].abs().clamp_min(1e-6)).max()
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda[:k] to draw the images on a GPU")
    parser.add_argument("--n-check", type=int, default=256, help="units compared between the CPU and the GPU")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gpu = device.type == "cuda"

    scanners = cp.load_scanners()
    scm = cp.microscopy.scanner_shift(scanners).scm
    cases = {"train_a mix (corrected + low_dose)": scm.do(lab=0.0)}
    cases.update({f"scanner {s.name}": scm.do(lab=0.0, scanner=float(i)) for i, s in enumerate(scanners)})
    scm.sample(64, seed=0, nodes=["image"], device=device)  # warm-up
    rows = []
    for name, model in cases.items():

        def draw(m=model):
            return m.sample(args.n, seed=1, nodes=["image"], device=device)

        all_seconds, peaks, batch = timed(draw, args.repeats, device)
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
    floor_op = noise_floor(scm.do(lab=0.0), args.n, device)
    all_seconds, _, _ = timed(floor_op, args.repeats, device)
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
                    "device": torch.cuda.get_device_name(device) if gpu else "cpu",
                    "torch": torch.__version__,
                    "threads": args.threads,
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_1min": os.getloadavg()[0],
                    "peak_memory_method": "cuda max_memory_allocated"
                    if gpu
                    else ("clear_refs" if reset_peak() else "unavailable"),
                },
                "rows": rows,
                "noise_floor": floor,
                "goal_images_per_second": 5000,
                "goal_met_for_mix": mix >= 5000,
                "fraction_of_noise_floor_for_mix": mix / floor["images_per_second"],
                **({"agreement_with_cpu": agreement(scm, args.n_check, device)} if gpu else {}),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
