"""Sim-to-real under a worse instrument: the recorded SrTiO3 image re-imaged at lower dose, broader probe, more drift.

The recording becomes the root of an SCM (:func:`causalphys.microscopy.recorded_scm`, its instrument — resolution and
noise-equivalent dose — estimated from the image) and each level is ``do(...)`` on one instrument node, every other
node at the recording's value: the dose (e⁻/Å², the shot noise topped up), the probe (σ in Å, the blur added in
quadrature) and the drift (Å/s along the fast axis; the frame takes 1.54 s). ``--sessions`` frames per level, each
with its own noise; every model sees the same frames. The column finders are the models ``train.py`` saved
(``models/<trainer>_seed<seed>.pt``); they are scored as ``train.py`` scores the recording: maps -> maxima -> Gaussian
refine, matched one to one by kind within 0.5 Å to the reference (``reference/columns.csv``). A scan distortion
moves the columns in the frame: the reference is carried into the frame by the same scan (an affine map here, the
drift's: no jitter or mains pick-up is asked for), so the score is the finder's, not the instrument's distortion,
and only where frame and recording overlap (a sheared frame loses part of the recording and shows a reflected
margin instead: neither is scored).

    .venv/bin/python experiments/sim_to_real/curve.py [--trainers erm randomize] [--seeds 0 1 2] [--sessions 3]

Writes ``results/curve.json`` (one row per frame and model) and ``results/curve.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from train import (
    DEFAULT_STEM,
    HERE,
    KINDS,
    LABELS,
    PIXEL,
    find,
    lattice_constant,
    physics_prior,
    reference_columns,
    standardise,
)

import causalphys as cp
from causalphys.atomic import write_atomic, write_text
from causalphys.data.images import resample
from causalphys.data.readers import read_image
from causalphys.microscopy.analysis import lattice_vectors
from causalphys.microscopy.columns import LatticeFit, fit_lattice, inside, match_columns, pooled, real_space_basis
from causalphys.microscopy.recorded import RecordedInstrument, recorded_scm
from causalphys.microscopy.scan import raster
from causalphys.seeding import derive_seed

AXES = {  # node -> (label, unit, levels after the recording's own value); past the physics prior's ranges (dose
    # >= 1e3 e⁻/Å², probe σ <= 1.4 Å, drift <= 8 Å/s) the randomised learner extrapolates too
    "dose": ("dose", "e⁻/Å²", [2e4, 2e3, 5e2, 2e2, 1e2, 5e1]),
    "probe_sigma": ("probe σ", "Å", [0.7, 0.9, 1.1, 1.3, 1.5, 1.7]),
    "drift_speed": ("drift", "Å/s", [1.0, 2.0, 4.0, 8.0, 16.0]),
}
NEGLIGIBLE = 0.01  # F1 lost that counts as none (a column or two of 221)
TRAINERS = {"erm": cp.ERM, "randomize": cp.trainers.InstrumentRandomization}


def load_model(trainer: str, seed: int, folder: Path):
    path = folder / f"{trainer}_seed{seed}.pt"
    if not path.is_file():
        raise SystemExit(f"no model at {path}: run train.py --trainer {trainer} --seed {seed} first")
    net = cp.nets.UNet(in_channels=1, n_outputs=len(KINDS), width=16, depth=2)
    return TRAINERS[trainer](task="dense").load(path, net=net)


def scan_map(unit: dict[str, torch.Tensor], instrument: RecordedInstrument, shape) -> np.ndarray:
    """``M`` of a re-imaged frame: its pixel ``q`` reads the recording at ``r = c + M (q − c)``, ``c`` the centre
    (:func:`causalphys.microscopy.resample.scan_positions` without jitter or mains: the identity for an undistorted
    scan)."""
    p = {k: v.to(torch.float64) for k, v in unit.items()}
    b, _ = raster(p, torch.full_like(p["dwell_time"], instrument.pixel_size), shape[1])
    return (b[0] / instrument.pixel_size).numpy()


def lattice_reading(found, m, centre, shape, margin, reference: LatticeFit, pixel: float) -> dict:
    """The lattice the found columns (frame pixels) make on the specimen: carried into the recording, a lattice
    fitted from the reference's basis; its constant ``a`` (Å) and its strain against the reference's lattice,
    ``ε = sym(B B_ref⁻¹) − I``, as the largest component (%)."""
    points = centre + (found - centre) @ m.T
    points = points[inside(points, shape, margin)]
    if len(points) < 3:
        return {"lattice_constant_angstrom": float("nan"), "strain_max_percent": float("nan")}
    fit = fit_lattice(points, reference.basis)
    g = fit.basis @ np.linalg.inv(reference.basis)
    strain = 0.5 * (g + g.T) - np.eye(2)
    return {
        "lattice_constant_angstrom": lattice_constant(fit, pixel),
        "strain_max_percent": float(100 * np.abs(strain).max()),
    }


def score(models: dict, image: torch.Tensor, reference: dict[str, np.ndarray], pixel: float, m: np.ndarray,
          reference_lattice: LatticeFit) -> dict:  # fmt: skip
    """Every model's precision, recall, F1 and median error (pm) on one frame ``(H, W)`` whose scan map is ``m``
    (:func:`scan_map`), against ``reference`` (``{kind: (m, 2)}`` in the recording's pixels). Scored where the
    frame and the recording overlap: the reference columns are carried into the frame (those 1.5 Å inside the
    recording, as on the recording itself), the frame's own border rule applies to both, and a column found where
    the frame read past the recording (its reflected margin) is not counted. Matched within 0.5 Å in the frame;
    the errors measured on the specimen (in the recording's coordinates); the lattice of :func:`lattice_reading`."""
    shape = tuple(image.shape)
    radius, margin = 0.5 / pixel, 1.5 / pixel
    centre = np.array([(shape[1] - 1) / 2, (shape[0] - 1) / 2])
    into_frame = np.linalg.inv(m).T
    seen = {k: centre + (r[inside(r, shape, margin)] - centre) @ into_frame for k, r in reference.items()}
    real = standardise(resample(image[None].float(), pixel, PIXEL)).unsqueeze(1)
    scale = PIXEL / pixel
    out = {}
    for key, model in models.items():
        maps = model.predict(real)[0].numpy()
        found = [(positions + 0.5) * scale - 0.5 for positions in find(maps)]
        found = [f[inside(centre + (f - centre) @ m.T, shape, margin - radius)] for f in found]
        matches = [match_columns(f, seen[k], radius, shape=shape, margin=margin) for f, k in zip(found, KINDS)]
        # the errors on the specimen: the frame's pixel offsets carried into the recording (a shear scales them)
        vectors = np.concatenate(
            [(f[t.pairs[:, 0]] - seen[k][t.pairs[:, 1]]) @ m.T for f, k, t in zip(found, KINDS, matches)]
        ).reshape(-1, 2) * (pixel * 100)  # pm
        offset = vectors.mean(0) if len(vectors) else np.full(2, np.nan)
        match = pooled(matches)
        out[key] = {
            "precision": match.precision,
            "recall": match.recall,
            "f1": match.f1,
            "median_error_pm": float(np.median(np.linalg.norm(vectors, axis=1))) if len(vectors) else float("nan"),
            # a shift common to every column (x: the fast scan axis), and the scatter about it
            "offset_x_pm": float(offset[0]),
            "offset_y_pm": float(offset[1]),
            "median_error_about_offset_pm": float(np.median(np.linalg.norm(vectors - offset, axis=1)))
            if len(vectors)
            else float("nan"),
            **lattice_reading(np.concatenate(found), m, centre, shape, margin, reference_lattice, pixel),
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
        low, high = physics_prior().ranges[node]
        for ax in axes[:, col]:  # where the physics prior stops: the randomised learner never saw these
            if node == "dose":
                ax.axvspan(low, min(r["value"] for r in rows if r["axis"] == node), color="0.9", zorder=0)
            else:
                ax.axvspan(high, max(r["value"] for r in rows if r["axis"] == node), color="0.9", zorder=0)
        axes[0, col].set_title(f"{label} ({unit})", fontsize=10)
        axes[1, col].set_xlabel(f"{label} ({unit}); leftmost: as recorded", fontsize=9)
        if node == "dose":
            for ax in axes[:, col]:
                ax.set_xscale("log")
                ax.invert_xaxis()
    axes[0, 0].set_ylabel("F1 at 0.5 Å (by kind)")
    axes[1, 0].set_ylabel("median position error (pm)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(
        "Column finders trained on the simulator, on the recorded SrTiO3 image re-imaged worse (3 seeds x 3 sessions; "
        "grey: outside the physics prior the randomised learner drew from)",
        fontsize=10,
    )
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)


def summarise(rows: list[dict], settings: list, trainers: Sequence[str]) -> str:
    """A markdown table: per level and trainer, F1, the F1 lost against the recording, the median error (and about the
    shift common to all columns), the lattice
    constant and the largest strain component against the reference's lattice (mean ± sd over seeds of the per-seed
    means over sessions), and whether the randomised learner lost at most half of ERM's F1."""

    def per_seed(axis, value, trainer, metric):
        seeds = sorted({r["seed"] for r in rows if r["trainer"] == trainer})
        return np.array(
            [
                np.mean(
                    [
                        r[metric]
                        for r in rows
                        if (r["axis"], r["value"], r["trainer"], r["seed"]) == (axis, value, trainer, s)
                    ]
                )  # fmt: skip
                for s in seeds
            ]
        )

    def cell(values: np.ndarray, digits: int) -> str:
        sd = f" ± {values.std(ddof=1):.{digits}f}" if len(values) > 1 else ""
        return f"{values.mean():.{digits}f}{sd}"

    head = ["level"]
    for t in trainers:
        name = LABELS[t]
        head += [f"{name} F1", f"{name} F1 lost", f"{name} error, pm (about the common shift)", f"{name} a (Å)",
                 f"{name} strain (%)"]  # fmt: skip
    if set(trainers) >= {"erm", "randomize"}:
        head.append("randomised loses <= half of ERM's")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base = {t: per_seed(*settings[0][:2], t, "f1") for t in trainers}
    for axis, value, _ in settings:
        label, unit = ("as recorded", "") if axis == "recorded" else (AXES[axis][0], AXES[axis][1])
        cells = [f"{label} {value:g} {unit}".strip() if axis != "recorded" else "as recorded"]
        lost = {}
        for t in trainers:
            f1 = per_seed(axis, value, t, "f1")
            lost[t] = base[t] - f1
            cells += [
                cell(f1, 3),
                cell(lost[t], 3),
                f"{cell(per_seed(axis, value, t, 'median_error_pm'), 1)} "
                f"({cell(per_seed(axis, value, t, 'median_error_about_offset_pm'), 1)})",
                cell(per_seed(axis, value, t, "lattice_constant_angstrom"), 3),
                cell(per_seed(axis, value, t, "strain_max_percent"), 2),
            ]
        if len(cells) < len(head):
            erm, rnd = lost["erm"].mean(), lost["randomize"].mean()
            if axis == "recorded":
                cells.append("—")
            elif erm <= NEGLIGIBLE and rnd <= NEGLIGIBLE:
                cells.append("— (neither loses)")
            else:
                cells.append("yes" if rnd <= erm / 2 else "no")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--replot", action="store_true", help="redraw curve.png from curve.json (no scoring)")
    args = parser.parse_args(argv)
    if not args.stem.is_file():
        parser.error(f"no recording at {args.stem}: pass --stem PATH or set CAUSALPHYS_STEM")
    if args.replot:
        recording = read_image(args.stem, unit="nm")
        image = torch.as_tensor(recording.data[0], dtype=torch.float32)
        rows = json.loads((args.out / "curve.json").read_text())["rows"]
        plot(rows, args.out / "curve.png", RecordedInstrument.from_images(image, recording.pixel_size))
        return
    started = time.time()
    models = {(t, s): load_model(t, s, args.models) for t in args.trainers for s in args.seeds}
    recording = read_image(args.stem, unit="nm")
    image = torch.as_tensor(recording.data[0], dtype=torch.float32)
    instrument = RecordedInstrument.from_images(image, recording.pixel_size)
    scm = recorded_scm(image, instrument)
    recorded_ref = reference_columns()
    every = np.concatenate([recorded_ref[k] for k in KINDS])
    reference_lattice = fit_lattice(every, real_space_basis(lattice_vectors(image, instrument.pixel_size)))
    settings = [("recorded", instrument.defaults["dose"], {})]
    settings += [(node, v, {node: v}) for node, (_, _, levels) in AXES.items() for v in levels]
    rows = []
    for axis, value, do in tqdm(settings, desc="levels"):
        frames = scm.do(**do).sample(args.sessions, seed=derive_seed(0, "curve", axis, value))
        nodes = [n for n in scm.nodes if n not in ("recorded", "image")]
        for session in range(args.sessions):
            unit = {n: frames[n][session : session + 1] for n in nodes}
            m = scan_map(unit, instrument, tuple(image.shape))
            for (trainer, seed), result in score(
                models, frames["image"][session], recorded_ref, instrument.pixel_size, m, reference_lattice
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
    table = summarise(rows, settings, args.trainers)
    write_text(args.out / "curve.md", table)
    print(table)


if __name__ == "__main__":
    main()
