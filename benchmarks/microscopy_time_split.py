"""Where the time of the microscopy chain goes: wall time per image of the training-lab mix, node by node.

Prints one JSON document. For 1 and 2 torch threads, and with the exogenous noise drawn ahead on a background thread
(what ``SCM.sample`` does for large batches on several threads) or in line, it draws ``--n`` images of the mix
(``scanner_shift(...).scm.do(lab=0)``, nodes up to ``image``) ``--repeats`` times and reports, for the fastest
draw, the wall time per image of the image-formation node (``clean``), of the detector (``image``), of all other
nodes together, and of the rest (drawing the noise where it is drawn in line, and the bookkeeping). It also times
the detector's two branches alone on one thread (the exact Poisson search on the rates below ``exact_below``, the
Cornish-Fisher quantile on the others) on the same batch's rates.

    .venv/bin/python benchmarks/microscopy_time_split.py [--n 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter

import torch
from procmem import timed

import causalphys as cp
from causalphys.microscopy import poisson
from causalphys.scm import model as scm_model


def timed_nodes(scm: cp.SCM, n: int, repeats: int, threads: int, ahead: bool) -> dict:
    """Per-node wall time (µs per image) of the fastest of ``repeats`` draws."""
    torch.set_num_threads(threads)
    saved = scm_model._PREFETCH_MIN_UNITS
    scm_model._PREFETCH_MIN_UNITS = saved if ahead else n + 1  # in line: below the size that draws ahead
    spent: Counter = Counter()

    def timing(node, evaluate):
        def wrapped(*args, **kwargs):
            started = time.perf_counter()
            try:
                return evaluate(*args, **kwargs)
            finally:
                spent[node] += time.perf_counter() - started

        return wrapped

    originals = {node: mech.evaluate for node, mech in scm.mechanisms.items()}
    for node, mech in scm.mechanisms.items():
        mech.evaluate = timing(node, originals[node])  # an instance attribute: this object only
    try:
        scm.sample(n, seed=0, nodes=["image"])  # warm-up
        best = None
        for r in range(repeats):
            spent.clear()
            started = time.perf_counter()
            scm.sample(n, seed=1 + r, nodes=["image"])
            total = time.perf_counter() - started
            if best is None or total < best[0]:
                best = (total, dict(spent))
    finally:
        for mech in scm.mechanisms.values():
            mech.__dict__.pop("evaluate", None)
        scm_model._PREFETCH_MIN_UNITS = saved
    total, nodes = best
    per_image = 1e6 / n
    other = sum(v for k, v in nodes.items() if k not in ("clean", "image"))
    return {
        "threads": threads,
        "noise_drawn_ahead": ahead,
        "images_per_second": n / total,
        "us_per_image": {
            "total": total * per_image,
            "image_formation (clean)": nodes.get("clean", 0.0) * per_image,
            "detector (image)": nodes.get("image", 0.0) * per_image,
            "other nodes": other * per_image,
            "rest (noise drawn in line, bookkeeping)": (total - sum(nodes.values())) * per_image,
        },
    }


def detector_branches(scm: cp.SCM, n: int, repeats: int) -> dict:
    """The exact search and the approximation alone, one thread, on the rates of one batch of the mix."""
    torch.set_num_threads(1)
    batch = scm.sample(n, seed=1, nodes=["image"], return_noise=True)
    mech = scm.mechanisms["image"]
    p = mech.inputs(batch, n, torch.float32)  # the parents by role, shaped to broadcast against the image
    rate = p["dose"] * p["pixel_area"] * p["clean"]
    u = batch.noise["image"][:, 0]
    low = rate < mech.exact_below
    lam_low, u_low = rate[low], u[low]
    lam_high, u_high = rate[~low], u[~low]
    poisson.exact_quantile(lam_low[:64], u_low[:64], torch.float32)  # compile / load the kernel

    def best(op):
        return 1e6 * min(timed(op, repeats)[0]) / n

    return {
        "fraction_of_pixels_exact": float(low.float().mean()),
        "us_per_image_exact_search": best(lambda: poisson.exact_quantile(lam_low, u_low, torch.float32)),
        "us_per_image_exact_search_torch_lockstep": best(
            lambda: poisson.exact_quantile(lam_low, u_low, torch.float32, block=1 << 14)
        ),
        "us_per_image_cornish_fisher": best(lambda: poisson.cornish_fisher_quantile(lam_high, u_high)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scm = cp.microscopy.scanner_shift(cp.load_scanners()).scm.do(lab=0.0)
    settings = [(1, False), (2, False), (2, True)]  # on one thread the noise is always drawn in line
    splits = [timed_nodes(scm, args.n, args.repeats, threads, ahead) for threads, ahead in settings]
    print(
        json.dumps(
            {
                "what": "wall time per 64x64 image of the training-lab mix, node by node (float32)",
                "batch": args.n,
                "repeats": args.repeats,
                "machine": {
                    "torch": torch.__version__,
                    "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_1min": os.getloadavg()[0],
                },
                "splits": splits,
                "detector_branches_one_thread": detector_branches(scm, args.n, args.repeats),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
