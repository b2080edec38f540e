"""Sim-to-real under a worse instrument: the recorded SrTiO3 image re-imaged at lower dose, broader probe, more drift.

The recording becomes the root of an SCM (:func:`causalphys.microscopy.recorded_scm`, its instrument — resolution and
noise-equivalent dose — estimated from the image) and each level is ``do(...)`` on one instrument node, every other
node at the recording's value: the dose (e⁻/Å², the shot noise topped up), the probe (σ in Å, the blur added in
quadrature) and the drift (Å/s along the fast axis; the frame takes 1.54 s). ``--sessions`` frames per level, each
with its own noise; every model sees the same frames. The column finders are the models ``train.py`` saved
(``models/<trainer>_seed<seed>.pt``); they are scored as ``train.py`` scores the recording: maps -> maxima -> Gaussian
refine, matched one to one by kind within 0.5 Å to the reference (``reference/columns.csv``). A scan distortion
moves the columns in the frame: the reference is carried into each frame by the same scan (an affine map here, the
drift's: no jitter or mains pick-up is asked for), so the score is the finder's, not the instrument's distortion.

    .venv/bin/python experiments/sim_to_real/curve.py [--trainers erm randomize] [--seeds 0 1 2] [--sessions 3]

Writes ``results/curve.json`` (one row per frame and model) and ``results/curve.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from train import DEFAULT_STEM, HERE, KINDS, LABELS, PIXEL, find, reference_columns, standardise

import causalphys as cp
from causalphys.atomic import write_atomic, write_text
from causalphys.data.images import resample
from causalphys.data.readers import read_image
from causalphys.microscopy.columns import match_columns, pooled
from causalphys.microscopy.recorded import RecordedInstrument, recorded_scm
from causalphys.microscopy.scan import raster
from causalphys.seeding import derive_seed

AXES = {  # node -> (label, unit, levels after the recording's own value)
    "dose": ("dose", "e⁻/Å²", [2e4, 2e3, 5e2, 2e2]),
    "probe_sigma": ("probe σ", "Å", [0.7, 0.9, 1.1, 1.3]),
    "drift_speed": ("drift", "Å/s", [1.0, 2.0, 4.0, 8.0]),
}
TRAINERS = {"erm": cp.ERM, "randomize": cp.trainers.InstrumentRandomization}


def load_model(trainer: str, seed: int, folder: Path):
    path = folder / f"{trainer}_seed{seed}.pt"
    if not path.is_file():
        raise SystemExit(f"no model at {path}: run train.py --trainer {trainer} --seed {seed} first")
    net = cp.nets.UNet(in_channels=1, n_outputs=len(KINDS), width=16, depth=2)
    return TRAINERS[trainer](task="dense").load(path, net=net)


def frame_of(reference: np.ndarray, unit: dict[str, torch.Tensor], instrument: RecordedInstrument, shape) -> np.ndarray:
    """Where the reference columns ``(m, 2)`` (recorded pixels) appear in a re-imaged frame: new pixel ``q`` reads
    the recording at ``c + M (q − c)`` (:func:`causalphys.microscopy.resample.scan_positions` without jitter or
    mains), so a column at ``r`` appears at ``q = c + M⁻¹ (r − c)``."""
    p = {k: v.to(torch.float64) for k, v in unit.items()}
    b, _ = raster(p, torch.full_like(p["dwell_time"], instrument.pixel_size), shape[1])
    m = (b[0] / instrument.pixel_size).numpy()
    centre = np.array([(shape[1] - 1) / 2, (shape[0] - 1) / 2])
    return centre + (reference - centre) @ np.linalg.inv(m).T


def score(models: dict, image: torch.Tensor, reference: dict[str, np.ndarray], pixel: float) -> dict:
    """Every model's precision, recall, F1 and median error (pm) on one frame ``(H, W)`` against ``reference``
    (``{kind: (m, 2)}`` in the frame's pixels)."""
    shape = tuple(image.shape)
    real = standardise(resample(image[None].float(), pixel, PIXEL)).unsqueeze(1)
    scale = PIXEL / pixel
    out = {}
    for key, model in models.items():
        maps = model.predict(real)[0].numpy()
        found = [(positions + 0.5) * scale - 0.5 for positions in find(maps)]
        match = pooled(
            match_columns(f, reference[k], 0.5 / pixel, shape=shape, margin=1.5 / pixel) for f, k in zip(found, KINDS)
        )
        out[key] = {
            "precision": match.precision,
            "recall": match.recall,
            "f1": match.f1,
            "median_error_pm": match.median_error * pixel * 100,
        }
    return out


def plot(rows: list[dict], path: Path, instrument: RecordedInstrument) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(AXES), figsize=(4.2 * len(AXES), 6.5), sharey="row")
    for col, (node, (label, unit, _)) in enumerate(AXES.items()):
        for trainer, colour in zip(LABELS, ("tab:red", "tab:blue")):
            mine = [r for r in rows if r["axis"] in (node, "recorded") and r["trainer"] == trainer]
            if not mine:
                continue
            values = sorted({r["value"] if r["axis"] == node else recorded_value(node, instrument) for r in mine})
            for row, metric in enumerate(("f1", "median_error_pm")):
                per_seed = {}
                for r in mine:
                    v = r["value"] if r["axis"] == node else recorded_value(node, instrument)
                    per_seed.setdefault((r["seed"], v), []).append(r[metric])
                seeds = sorted({s for s, _ in per_seed})
                table = np.array([[np.mean(per_seed[(s, v)]) for v in values] for s in seeds])
                mean, sd = table.mean(0), table.std(0, ddof=1) if len(seeds) > 1 else np.zeros(len(values))
                ax = axes[row, col]
                ax.errorbar(values, mean, yerr=sd, marker="o", capsize=3, color=colour, label=LABELS[trainer])
        axes[0, col].set_title(f"{label} ({unit})", fontsize=10)
        axes[1, col].set_xlabel(f"{label} ({unit}); leftmost: as recorded", fontsize=9)
        if node == "dose":
            for ax in axes[:, col]:
                ax.set_xscale("log")
                ax.invert_xaxis()
    axes[0, 0].set_ylabel("F1 at 0.5 Å (by kind)")
    axes[1, 0].set_ylabel("median position error (pm)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Column finders trained on the simulator, on the recorded SrTiO3 image re-imaged worse", fontsize=10)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)


def recorded_value(node: str, instrument: RecordedInstrument) -> float:
    return instrument.defaults[node]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stem", type=Path, default=Path(os.environ.get("CAUSALPHYS_STEM", DEFAULT_STEM)))
    parser.add_argument("--trainers", nargs="+", choices=list(TRAINERS), default=list(TRAINERS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--models", type=Path, default=HERE / "models")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if not args.stem.is_file():
        parser.error(f"no recording at {args.stem}: pass --stem PATH or set CAUSALPHYS_STEM")
    started = time.time()
    models = {(t, s): load_model(t, s, args.models) for t in args.trainers for s in args.seeds}
    recording = read_image(args.stem, unit="nm")
    image = torch.as_tensor(recording.data[0], dtype=torch.float32)
    instrument = RecordedInstrument.from_images(image, recording.pixel_size)
    scm = recorded_scm(image, instrument)
    recorded_ref = reference_columns()
    settings = [("recorded", instrument.defaults["dose"], {})]
    settings += [(node, v, {node: v}) for node, (_, _, levels) in AXES.items() for v in levels]
    rows = []
    for axis, value, do in tqdm(settings, desc="levels"):
        frames = scm.do(**do).sample(args.sessions, seed=derive_seed(0, "curve", axis, value))
        nodes = [n for n in scm.nodes if n not in ("recorded", "image")]
        for session in range(args.sessions):
            unit = {n: frames[n][session : session + 1] for n in nodes}
            reference = {k: frame_of(r, unit, instrument, tuple(image.shape)) for k, r in recorded_ref.items()}
            for (trainer, seed), result in score(
                {key: m for key, m in models.items()}, frames["image"][session], reference, instrument.pixel_size
            ).items():
                rows.append({"axis": axis, "value": value, "session": session, "trainer": trainer, "seed": seed,
                             **result})  # fmt: skip
    summary = {
        "recorded_instrument": instrument.describe(),
        "sessions": args.sessions,
        "seconds": time.time() - started,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "curve.json", json.dumps(summary, indent=1) + "\n")
    plot(rows, args.out / "curve.png", instrument)
    for axis, value, _ in settings:
        line = [f"{axis:12s} {value:9.3g}"]
        for trainer in args.trainers:
            mine = [r for r in rows if r["axis"] == axis and r["value"] == value and r["trainer"] == trainer]
            f1 = np.mean([r["f1"] for r in mine])
            err = np.mean([r["median_error_pm"] for r in mine])
            line.append(f"{trainer}: F1 {f1:.3f} err {err:5.1f} pm")
        print("  ".join(line))


if __name__ == "__main__":
    main()
