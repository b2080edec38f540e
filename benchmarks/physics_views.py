"""What the physics learners cost: making their views, and their optimiser steps, beside ERM's.

Two measurements on the default scanner-shift benchmark (64x64 images, 2 torch threads), alternating the compared
sides ``--repeats`` times and keeping each side's best:

- **data**: seconds per image to make the training data ERM uses (``environment_tensors`` of the two training labs)
  and to make the physics learners' labelled views of as many units (each unit drawn with its noise, then re-imaged
  in a new session under an instrument drawn from ``conf/prior/physics.yaml``: ``benchmark.views``). A view costs
  more than a plain image: the unit is drawn, then its image is computed again through the SCM's counterfactual.
- **steps**: milliseconds per optimiser step on the study's net (``conf/net/scanner_cnn.yaml``, 2 environments) of
  ERM (64 images per environment), instrument randomisation (64 units, one view each: 64 images) and
  counterfactual invariance at its yaml default (32 units x 2 views: 64 images), and at 64 units x 2 views.

    .venv/bin/python benchmarks/physics_views.py [--units 1000] [--repeats 3]

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

import causalphys as cp
from causalphys.data.tensors import environment_tensors
from causalphys.microscopy.scanners import ScannerPreset
from causalphys.microscopy.shift_benchmark import ScannerShiftBenchmark

CONF = Path(__file__).resolve().parents[1] / "conf"


def benchmark(views: dict | None) -> ScannerShiftBenchmark:
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "benchmark" / "scanner_shift.yaml"))
    for key in ("defaults", "_target_", "shifts"):
        cfg.pop(key, None)
    bench = ScannerShiftBenchmark(scanners=cp.load_scanners(), views=views, **cfg)
    bench.check()
    return bench


def prior() -> ScannerPreset:
    raw = OmegaConf.to_container(OmegaConf.load(CONF / "prior" / "physics.yaml"))
    raw.pop("_target_")
    return ScannerPreset(**raw)


def data_seconds(units: int, per_unit: int) -> dict[str, float]:
    plain = benchmark(None)
    train, _, _ = plain.environments()
    started = time.perf_counter()
    environment_tensors(train, units, seed=0, chunk=plain.chunk)
    erm = (time.perf_counter() - started) / (2 * units)
    physics = benchmark({"source": "prior", "prior": prior(), "per_unit": per_unit, "units": units})
    train, _, _ = physics.environments()
    started = time.perf_counter()
    for env in train:
        physics.labelled_views(train, env, seed=0)
    views = (time.perf_counter() - started) / (2 * units * per_unit)
    return {"erm_ms_per_image": 1e3 * erm, "views_ms_per_image": 1e3 * views}


def step_ms(trainer, units: int, views: int, repeats: int = 20) -> float:
    g = torch.Generator().manual_seed(0)
    envs = {e: (torch.randn(256, 1, 64, 64, generator=g), torch.randint(0, 2, (256,), generator=g)) for e in "ab"}
    net = cp.nets.SmallCNN(1, 2, width=16, strides=(2, 2, 1, 1))
    if getattr(trainer, "needs_views", False):
        trainer.fit(net, envs, views={e: (torch.stack([x, x.flip(-1)], 1), y) for e, (x, y) in envs.items()})
        batches = [(torch.stack([x[:units]] * views, 1), y[:units]) for x, y in envs.values()]
    else:
        trainer.fit(net, envs)
        batches = [(x[:units], y[:units]) for x, y in envs.values()]
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        trainer.update(batches)
        best = min(best, time.perf_counter() - started)
    return 1e3 * best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000, help="units per training lab for the data timing")
    parser.add_argument("--per-unit", type=int, default=4, help="views per unit (conf/trainer/randomize.yaml)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    settings = dict(steps=2, progress=False)
    sides = {
        "erm_64": lambda: step_ms(cp.trainers.ERM(batch_size=64, **settings), 64, 1),
        "randomize_64x1": lambda: step_ms(cp.trainers.InstrumentRandomization(batch_size=64, **settings), 64, 1),
        "cf_invariance_32x2": lambda: step_ms(cp.trainers.CounterfactualInvariance(batch_size=32, **settings), 32, 2),
        "cf_invariance_64x2": lambda: step_ms(cp.trainers.CounterfactualInvariance(batch_size=64, **settings), 64, 2),
    }
    steps = {k: float("inf") for k in sides}
    data = {"erm_ms_per_image": float("inf"), "views_ms_per_image": float("inf")}
    for _ in range(args.repeats):
        for name, measure in sides.items():
            steps[name] = min(steps[name], measure())
        for key, value in data_seconds(args.units, args.per_unit).items():
            data[key] = min(data[key], value)
    print(
        json.dumps(
            {
                "machine": {"threads": 2, "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0]},
                "data": {**data, "views_over_erm_per_image": data["views_ms_per_image"] / data["erm_ms_per_image"]},
                "step_ms": steps,
                "step_over_erm": {k: v / steps["erm_64"] for k, v in steps.items()},
                "setting": {"units": args.units, "per_unit": args.per_unit, "repeats": args.repeats},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
