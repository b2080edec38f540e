"""Calibrate the scanner-shift benchmark: does it mean something?

Question: on the default scanner-shift benchmark, does plain ERM with the default small CNN learn the scanner
instead of the structure (>= 80 % on the training labs, <= 35 % on the test lab, whose routing reverses the
scanner-label association), while an oracle trained where the scanner is independent of the label reaches
>= 70 % on the test lab? Mean and standard deviation over seeds; every number is the final-step model (no model
selection: fixed hyper-parameters, as in the IRM paper's Colored MNIST table).

    .venv/bin/python experiments/scanner_shift/calibrate.py --seeds 5          # writes results.csv and RESULTS.md
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch

import causalphys as cp
from causalphys.atomic import write_atomic, write_text

HERE = Path(__file__).resolve().parent
TRAIN, TEST, HELDOUT = ("train_a", "train_b"), "test", "heldout_scanners"


def accuracy(trainer, x, y) -> float:
    return (trainer.predict(x).argmax(1) == y).float().mean().item()


def run_seed(seed: int, args) -> list[dict]:
    scanners = cp.load_scanners()
    rows = []
    for setting in ("erm", "oracle"):
        envs = cp.microscopy.scanner_shift(scanners, oracle=setting == "oracle")
        if setting == "oracle":  # only the training labs are drawn from the unconfounded model
            envs = cp.Environments(envs.scm, {k: envs.interventions[k] for k in TRAIN})
        sizes = {name: args.n_train + args.n_val if name in TRAIN else args.n_test for name in envs}
        started = time.perf_counter()
        data = cp.data.environment_tensors(envs, sizes, seed=seed)
        sampled = time.perf_counter() - started
        if setting == "oracle":  # evaluated on the confounded labs' data (the same units as ERM's, same seed)
            confounded = cp.microscopy.scanner_shift(scanners)
            held = cp.Environments(confounded.scm, {k: confounded.interventions[k] for k in (TEST, HELDOUT)})
            data.update(cp.data.environment_tensors(held, args.n_test, seed=seed))
        train = {k: (data[k][0][: args.n_train], data[k][1][: args.n_train]) for k in TRAIN}
        val = {k: (data[k][0][args.n_train :], data[k][1][args.n_train :]) for k in TRAIN}
        net = cp.nets.SmallCNN(in_channels=1, n_outputs=2, width=args.width, strides=(2, 2, 1, 1))
        trainer = cp.ERM(lr=args.lr, batch_size=args.batch_size, steps=args.steps, seed=seed, progress=args.progress)
        started = time.perf_counter()
        trainer.fit(net, train)
        trained = time.perf_counter() - started
        results = {f"{k}/in": accuracy(trainer, *train[k]) for k in TRAIN}
        results.update({f"{k}/val": accuracy(trainer, *val[k]) for k in TRAIN})
        results[f"{TEST}/test"] = accuracy(trainer, *data[TEST])
        results[f"{HELDOUT}/test"] = accuracy(trainer, *data[HELDOUT])
        for key, value in results.items():
            env, split = key.split("/")
            rows.append(
                {
                    "run": f"seed{seed}",
                    "trainer": setting,
                    "env": env,
                    "split": split,
                    "metric": "accuracy",
                    "value": value,
                    "selection": "final-step",
                }
            )
        print(
            f"seed {seed} {setting:6s} sampled {sampled:.0f}s trained {trained:.0f}s "
            + " ".join(f"{k}={v:.3f}" for k, v in results.items()),
            file=sys.stderr,
            flush=True,
        )
    return rows


def summarise(rows: list[dict], args) -> str:
    def stat(trainer, envs, split):
        per_seed = {}
        for r in rows:
            if r["trainer"] == trainer and r["env"] in envs and r["split"] == split:
                per_seed.setdefault(r["run"], []).append(r["value"])
        values = torch.tensor([sum(v) / len(v) for v in per_seed.values()]) * 100
        return f"{values.mean():.1f} ± {values.std(unbiased=True) if len(values) > 1 else 0.0:.1f}"

    lines = [
        "| data | train labs (held-out val) | test lab (reversed) | held-out scanners |",
        "|---|---|---|---|",
    ]
    for trainer, label in (("erm", "ERM (confounded labs)"), ("oracle", "oracle: ERM, scanner ⟂ label")):
        lines.append(
            f"| {label} | {stat(trainer, TRAIN, 'val')} | {stat(trainer, (TEST,), 'test')} | "
            f"{stat(trainer, (HELDOUT,), 'test')} |"
        )
    seeds = sorted({r["run"] for r in rows})
    return (
        f"Accuracy (%), mean ± std over {len(seeds)} seeds, final-step models (selection: none).\n"
        f"Command: `.venv/bin/python experiments/scanner_shift/calibrate.py --seeds {args.seeds} "
        f"--n-train {args.n_train} --steps {args.steps}`\n\n" + "\n".join(lines) + "\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=20000, help="training images per training lab")
    parser.add_argument("--n-val", type=int, default=2000, help="held-out images per training lab")
    parser.add_argument("--n-test", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    rows = []
    for seed in range(args.seeds):
        rows += run_seed(seed, args)
    fields = ["run", "trainer", "env", "split", "metric", "value", "selection"]

    def write_csv(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

    write_atomic(args.out / "results.csv", write_csv)
    summary = summarise(rows, args)
    write_text(args.out / "calibration.md", summary)
    print(summary)


if __name__ == "__main__":
    main()
