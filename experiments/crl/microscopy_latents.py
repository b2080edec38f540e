"""Which physical variables does a content encoder learned from counterfactual pairs recover?

Trains :class:`causalphys.trainers.ContentStyle` (InfoNCE on the same specimens imaged by both scanners of their
lab, then a head on the frozen content) and, for comparison, ERM with the same net on the default scanner-shift
benchmark; then draws fresh units of every lab *with all their latents* and asks, with held-out linear and
nonlinear (RBF kernel ridge) probes, how much of each sample and instrument variable the learned features hold
(:func:`causalphys.evaluation.latents.disentanglement_table`), separately for the labs that image with the training
scanners and for the lab with two scanners no training lab has. Writes ``latents.csv`` (tidy rows, atomically) and
``latents.md`` into ``--out`` and prints the table.

    .venv/bin/python experiments/crl/microscopy_latents.py [--seeds 3] [--n-train 5000] [--steps 1500]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

import causalphys as cp
from causalphys.data.tensors import standardize_images
from causalphys.evaluation import Study
from causalphys.evaluation.harness import net_factory
from causalphys.evaluation.latents import disentanglement_table
from causalphys.evaluation.report import markdown_table
from causalphys.nets import SmallCNN
from causalphys.nets.modes import evaluating
from causalphys.run import CONF_DIR
from causalphys.seeding import derive_seed
from causalphys.trainers.content_style import ContentStyle

HERE = Path(__file__).resolve().parent
SAMPLE = ["lattice_constant", "strain_xx", "strain_yy", "strain_xy", "phase", "vacancy_fraction", "background"]
INSTRUMENT = ["log_dose", "probe_sigma", "pixel_size", "scale_error_x", "scan_rotation", "drift_speed", "scanner"]
FIELDS = ["run", "trainer", "block", "variable", "probe", "metric", "value"]


def benchmark(n_train: int, n_pairs: int):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config")
    bench = OmegaConf.to_container(cfg.benchmark, resolve=True)
    bench.update(n_train=n_train, n_val=max(1, n_train // 10), n_test=1000, n_counterfactual=0, n_pairs=n_pairs)
    return instantiate(bench, _convert_="all")


def latents_sample(bench, n: int, seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``n`` fresh units from every lab, their standardised images and true latents, in two groups: the labs that
    image with the training labs' scanner pair (``seen_scanners``: the training labs and the test lab) and the labs
    with other scanners (``heldout_scanners``)."""
    train_envs, test_envs, _ = bench.environments()
    pair = set(bench.train_scanners)
    groups: dict[str, tuple[list, list]] = {}
    for envs in (train_envs, test_envs):
        for env in envs:
            if env not in bench.labs:
                continue
            batch = envs[env].sample(n, seed=derive_seed(seed, "latents", env))
            values = {k: batch[k] for k in SAMPLE + INSTRUMENT if k in batch}
            values["log_dose"] = batch["dose"].log10()
            group = "seen_scanners" if set(bench.labs[env]["scanners"]) == pair else "heldout_scanners"
            xs, ts = groups.setdefault(group, ([], []))
            xs.append(standardize_images(batch["image"]))
            ts.append(torch.stack([values[k].float() for k in SAMPLE + INSTRUMENT], 1))
    return {g: (torch.cat(xs), torch.cat(ts)) for g, (xs, ts) in groups.items()}


def features(trainer, x: torch.Tensor) -> torch.Tensor:
    with evaluating(trainer.net_):
        return torch.cat([trainer.net_.features(c) for c in x.split(512)])


def fit_and_probe(run: str, name: str, learner, make_net, data, groups) -> list[dict]:
    """Fit ``learner`` on a new net (``content_style`` on the counterfactual pairs too) and return its tidy rows: the
    probes' R² from its features to every latent, per group of labs, and its test-lab accuracy (the last row)."""
    net = make_net(data.input_shape, data.n_outputs)
    if name == "content_style":
        learner.fit(net, data.train, pairs=data.pairs)
    else:
        learner.fit(net, data.train)
    new = []
    for group, (x_lat, t_lat) in groups.items():
        z = features(learner, x_lat)
        for probe in ("linear", "nonlinear"):
            for r in disentanglement_table(
                z, t_lat, blocks={group: list(range(z.shape[1]))}, names=SAMPLE + INSTRUMENT, probe=probe
            ):
                new.append({"run": run, "trainer": name, **r})
    test_x, test_y = data.test["test"]
    accuracy = (learner.predict(test_x).argmax(1) == test_y).float().mean().item()
    new.append(
        {
            "run": run,
            "trainer": name,
            "block": "head",
            "variable": "label",
            "probe": "test_lab",
            "metric": "accuracy",
            "value": accuracy,
        }
    )
    return new


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--encoder-steps", type=int, default=1000)
    parser.add_argument("--n-latents", type=int, default=1000, help="fresh units per lab for the probes")
    parser.add_argument("--out", type=Path, default=HERE / "microscopy")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("CAUSALPHYS_THREADS", "1")))
    args.out.mkdir(parents=True, exist_ok=True)
    study = Study(args.out / "latents.csv", key=("run", "trainer"), fields=FIELDS)
    bench = benchmark(args.n_train, args.n_train // 2)
    make_net = net_factory(SmallCNN, width=16, strides=(2, 2, 1, 1))
    for seed in range(args.seeds):
        run = f"seed{seed}"
        if study.done((run, "content_style")) and study.done((run, "erm")):
            continue
        started = time.perf_counter()
        data = bench.load(seed)
        groups = latents_sample(bench, args.n_latents, seed)
        learners = {
            "content_style": ContentStyle(
                steps=args.steps, encoder_steps=args.encoder_steps, seed=seed, progress=False
            ),
            "erm": cp.trainers.ERM(steps=args.steps, seed=seed, progress=False),
        }
        for name, learner in learners.items():
            new = study.run((run, name), fit_and_probe, run, name, learner, make_net, data, groups)
            if new is None:
                continue
            print(
                f"{run} {name}: test-lab accuracy {new[-1]['value']:.3f} ({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    table = _table(study.rows)
    (args.out / "latents.md").write_text(table)
    print(table)


def _table(rows: list[dict]) -> str:
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame["value"] = frame["value"].astype(float)
    r2 = frame[frame.metric == "r2"]
    pivot = r2.pivot_table(index=["block", "trainer", "probe"], columns="variable", values="value", aggfunc="mean")
    variables = [v for v in SAMPLE + INSTRUMENT if v in pivot.columns]
    body = [[*index, *(f"{pivot.loc[index, v]:.2f}" for v in variables)] for index in pivot.index]
    acc = frame[frame.metric == "accuracy"].groupby("trainer")["value"]
    accuracy = [[t, f"{100 * v.mean():.1f}", f"{100 * v.std():.1f}" if len(v) > 1 else "", len(v)] for t, v in acc]
    text = f"Held-out R² of probes from the learned features to each true variable (mean of {frame.run.nunique()} "
    text += "seed(s)); units from the labs with the training scanners (seen) and from the lab with two other scanners "
    text += "(held out):\n\n" + markdown_table(["units", "trainer", "probe", *variables], body)
    text += "\n\nTest-lab accuracy (%):\n\n" + markdown_table(["trainer", "mean", "std", "seeds"], accuracy)
    return text + "\n"


if __name__ == "__main__":
    main()
