"""iVAE on the synthetic nonlinear ICA data of Khemakhem et al. (2020), "Variational Autoencoders and Nonlinear ICA:
A Unifying Framework", Sec. 7: 40 segments x 1,000 points, 5 Gaussian sources whose scales change per segment, mixed
by a random invertible 2-layer leaky-ReLU MLP. The paper's figure shows the iVAE at an MCC of about 0.9 with 2 mixing
layers; the goal here is a mean MCC >= 0.85 over 5 seeds.

Methods (seed ``s`` draws the data and the learner's weights):

- ``ivae``: :class:`causalphys.trainers.IVAE` with a full-covariance posterior (our default);
- ``ivae_meanfield``: the same with the paper's mean-field (diagonal) posterior;
- ``vae``: the same net without the environment-conditioned prior (``conditional_prior=False``): not identifiable;
- ``fastica``: scikit-learn's FastICA on ``x`` (linear ICA); ``identity``: the observations ``x`` themselves.

MCC (Pearson and Spearman, optimal matching) of the learned latents (posterior means) against the true sources on all
40,000 points, as in the paper (the learners are unsupervised; no labels are used).

    .venv/bin/python experiments/crl/ivae_ica.py [--seeds 5] [--methods ivae,ivae_meanfield,vae,fastica,identity]

``--first-seed 5 --out DIR`` runs fresh seeds (the held-out check of the tuned setting, see README.md).

Finished (method, seed) pairs already in ``results.csv`` are skipped; ``results.csv`` and ``table.md`` are rewritten
atomically after every run, so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

import causalphys as cp
from causalphys.atomic import write_text
from causalphys.evaluation import Study
from causalphys.evaluation.latents import mcc

HERE = Path(__file__).resolve().parent
SELECTION = "final-step"
# The tuned setting (see README.md): full-covariance posterior, 128-wide encoder and decoder, decoder variance 0.01,
# prior means 0, Adam lr 3e-3 with cosine decay, 8 points per segment and step (320 in all), 20,000 steps.
IVAE_SETTINGS = dict(
    latent_dim=5,
    prior="gaussian",
    prior_mean=False,
    posterior="full",
    decoder_var=0.01,
    decoder_hidden=(128, 128),
    lr=0.003,
    lr_schedule="cosine",
    batch_size=8,
    steps=20_000,
)
HIDDEN = (128, 128)
METHODS = {
    "ivae": dict(IVAE_SETTINGS),
    "ivae_meanfield": dict(IVAE_SETTINGS, posterior="diagonal"),
    "vae": dict(IVAE_SETTINGS, conditional_prior=False),
    "fastica": None,
    "identity": None,
}


def row(seed: int, method: str, metric: str, value: float) -> dict:
    return {
        "run": f"seed{seed}",
        "trainer": method,
        "env": "all",
        "split": "train",
        "metric": metric,
        "value": value,
        "selection": SELECTION,
    }


def learn(method: str, problem, seed: int, max_steps: int | None) -> tuple[torch.Tensor, dict[str, float]]:
    """The learned latents ``(n, 5)`` of ``method`` on ``problem`` and extra metrics."""
    x = problem.x
    if method == "identity":
        return x, {}
    if method == "fastica":
        from sklearn.decomposition import FastICA

        ica = FastICA(n_components=x.shape[1], whiten="unit-variance", max_iter=1000, random_state=seed)
        return torch.from_numpy(ica.fit_transform(x.double().numpy())), {}
    settings = dict(METHODS[method])
    if max_steps is not None:
        settings["steps"] = min(settings["steps"], max_steps)
    trainer = cp.trainers.IVAE(seed=seed, task="regression", progress=False, **settings)
    trainer.fit(cp.nets.MLP(x.shape[1], x.shape[1], hidden=HIDDEN), problem.envs)
    last = trainer.history_[-min(200, len(trainer.history_)) :]
    return trainer.predict(x), {"elbo_last200": sum(h["elbo"] for h in last) / len(last)}


def run(method: str, seed: int, n_per_segment: int, max_steps: int | None) -> list[dict]:
    """Tidy rows for one (method, seed): MCC (Pearson, Spearman), extra metrics, wall-clock seconds."""
    started = time.perf_counter()
    problem = cp.data.nonlinear_ica(n_segments=40, n_per_segment=n_per_segment, n_latents=5, n_layers=2, seed=seed)
    latents, extra = learn(method, problem, seed, max_steps)
    rows = [
        row(seed, method, "mcc_pearson", mcc(problem.sources, latents, "pearson")),
        row(seed, method, "mcc_spearman", mcc(problem.sources, latents, "spearman")),
    ]
    rows += [row(seed, method, k, v) for k, v in extra.items()]
    rows.append(row(seed, method, "seconds", time.perf_counter() - started))
    return rows


def _mean_std(values: list[float]) -> str:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return f"{mean:.3f}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.3f} ± {std:.3f}"


def table(rows: list[dict]) -> str:
    """Markdown: per method, the MCC of each seed and mean ± std (sample std over seeds), and the mean seconds."""
    values: dict[tuple[str, str], dict[str, float]] = {}
    for r in rows:
        values.setdefault((r["trainer"], r["metric"]), {})[r["run"]] = float(r["value"])
    runs = sorted({r["run"] for r in rows}, key=lambda name: int(name.removeprefix("seed")))
    lines = [
        "| method | MCC | " + " | ".join(runs) + " | mean ± std | seconds per seed |",
        "|---|---|" + "---|" * len(runs) + "---|---|",
    ]
    for method in METHODS:
        for metric in ("mcc_pearson", "mcc_spearman"):
            per_run = values.get((method, metric))
            if not per_run:
                continue
            cells = [f"{per_run[r]:.3f}" if r in per_run else "" for r in runs]
            seconds = list(values.get((method, "seconds"), {}).values())
            lines.append(
                f"| {method} | {metric.removeprefix('mcc_')} | "
                + " | ".join(cells)
                + f" | {_mean_std(list(per_run.values()))} | {sum(seconds) / len(seconds):.0f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds")
    parser.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed, first-seed + 1, ...")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--n-per-segment", type=int, default=1000, help="points per segment (the paper: 1000)")
    parser.add_argument("--max-steps", type=int, default=None, help="cap the training steps (smoke tests)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    table_path = args.out / "table.md"
    # a (method, seed) is finished once its last row, the wall-clock seconds, is in results.csv
    study = Study(args.out / "results.csv", key=("trainer", "run"), finished=lambda row: row["metric"] == "seconds")
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for method in methods:
            new = study.run((method, f"seed{seed}"), run, method, seed, args.n_per_segment, args.max_steps)
            if new is None:
                continue
            write_text(table_path, table(study.rows))
            summary = {r["metric"]: round(float(r["value"]), 4) for r in new}
            print(f"seed {seed} {method}: {summary}", flush=True)
    text = table(study.rows)
    write_text(table_path, text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
