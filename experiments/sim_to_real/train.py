"""Sim-to-real: a column finder trained only on the simulator, scored on the recorded SrTiO3 image.

A U-Net (``task="dense"``) trained on ``column_lab`` images of SrTiO3 [110] from the default training scanners
(corrected_200kv and low_dose, as the scanner-shift labs use them); the target is the column map (SrO and Ti
channels). ``--trainer erm`` fits the factual images; ``--trainer randomize`` (instrument randomisation) fits the same
units re-imaged ``--views`` times each in new sessions under instruments drawn from the physics prior
(``conf/prior/physics.yaml``; :func:`causalphys.microscopy.reimage.reimage`), each view scored against its own map
(the scan moves the columns). Same net, steps, batch and learning rate for both.

The recording is resampled to the simulator's 0.3 Å/px and standardised like the training images;
columns are the maxima of each predicted map refined by a Gaussian fit, mapped back to the recording's pixels and
matched one to one with the reference (``reference.py``) within 0.5 Å; the lattice is fitted to the found columns.

    .venv/bin/python experiments/sim_to_real/train.py [--trainer erm|randomize] [--seed 0] [--steps 1500]

Writes ``results/<trainer>_seed<seed>.json`` and ``.png``, and the trained model to ``models/<trainer>_seed<seed>.pt``
(git-ignored; ``curve.py`` reads it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

import causalphys as cp
from causalphys.atomic import write_atomic, write_text
from causalphys.data.images import resample
from causalphys.data.readers import read_image
from causalphys.microscopy.analysis import column_maxima, fit_columns, lattice_vectors
from causalphys.microscopy.column_lab import column_lab
from causalphys.microscopy.columns import ColumnMatch, LatticeFit, fit_lattice, match_columns, real_space_basis
from causalphys.microscopy.reimage import reimage
from causalphys.microscopy.scanners import ScannerPreset
from causalphys.seeding import derive_seed

HERE = Path(__file__).resolve().parent
DEFAULT_STEM = HERE.parents[1].parent / "shared" / "data" / "stem" / "srtio3_adf.hdf5"
PIXEL = 0.3  # Å: the training scanners' sampling
KINDS = ("SrO", "Ti")
A_SRTIO3 = 3.905
LABELS = {"erm": "ERM", "randomize": "Randomised"}


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Per image: zero mean, unit standard deviation (offset and gain gone), as the scanner-shift benchmark does; a
    blank image (a view of the prior whose dose and gain saturate every pixel, 0.3 % of them) stays blank, as the
    harness's :func:`~causalphys.data.tensors.standardize_images` keeps it."""
    return (x - x.mean((-2, -1), keepdim=True)) / x.std((-2, -1), keepdim=True).clamp_min(1e-8)


def physics_prior() -> ScannerPreset:
    """The physics prior of the instrument, ``conf/prior/physics.yaml`` (the randomised learners' everywhere)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    return instantiate(OmegaConf.load(HERE.parents[1] / "conf" / "prior" / "physics.yaml"))


def training_data(units: int, seed: int, views: int = 0) -> tuple[dict, dict]:
    """``(envs, views)``: per training scanner ``(images (m, 1, H, W), maps (m, K, H, W))``, and with ``views`` the
    same units re-imaged ``views`` times under the physics prior, ``(x (m, k, 1, H, W), y (m, k, K, H, W))``."""
    scanners = cp.load_scanners()
    scm = column_lab(scanners)
    with_prior = column_lab([*scanners, physics_prior()])  # the same lab, the prior one more scanner to pick
    envs, labelled = {}, {}
    for index in (0, 1):  # the training labs' two scanners
        name = scanners[index].name
        batch = scm.do(scanner=float(index)).sample(units, seed=seed * 10 + index, return_noise=bool(views))
        envs[name] = (standardise(batch["image"]).unsqueeze(1), batch["columns"])
        if views:
            lab = with_prior.do(scanner=float(index))
            shots = [
                reimage(lab, batch, {"scanner": float(len(scanners))}, derive_seed(seed, "views", name, j))
                for j in range(views)
            ]
            labelled[name] = (
                torch.stack([standardise(s["image"]).unsqueeze(1) for s in shots], 1),
                torch.stack([s["columns"] for s in shots], 1),
            )
    return envs, labelled


def lattice_constant(lattice: LatticeFit, pixel: float) -> float:
    """``a`` (Å) of SrTiO3 [110] from a lattice fitted to its columns (both kinds, one lattice): the vector along
    which SrO and Ti alternate is a/2, the other a/√2 (reference.py); the mean of the two readings."""
    lengths = lattice.lengths(pixel)
    along = int(np.argmin(lengths))
    return (2 * lengths[along] + math.sqrt(2) * lengths[1 - along]) / 2


def reference_columns() -> dict[str, np.ndarray]:
    """``{kind: (m, 2)}``: the reference columns of the recording (``reference/columns.csv``), ``(x, y)`` pixels."""
    rows = np.genfromtxt(HERE / "reference" / "columns.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
    return {kind: np.stack([rows["x_px"], rows["y_px"]], 1)[rows["kind"] == kind] for kind in KINDS}


def find(maps: np.ndarray, min_height: float = 0.3) -> list[np.ndarray]:
    """Columns per channel of predicted maps ``(K, H, W)`` at ``PIXEL``: maxima refined by a Gaussian fit."""
    out = []
    for channel in maps:
        image = torch.as_tensor(channel)
        maxima = column_maxima(image, PIXEL, radius=0.6, min_height=min_height, smooth=0.0)
        out.append(fit_columns(image, PIXEL, maxima, radius=0.6, smooth=0.0).position)
    return out


def scores(match: ColumnMatch, pixel: float) -> dict:
    """What the JSON records of a match: counts, precision, recall and the median error in pm."""
    return {
        "found": match.n_found,
        "reference": match.n_reference,
        "precision": match.precision,
        "recall": match.recall,
        "median_error_pm": match.median_error * pixel * 100,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stem", type=Path, default=Path(os.environ.get("CAUSALPHYS_STEM", DEFAULT_STEM)))
    parser.add_argument("--trainer", choices=("erm", "randomize"), default="erm")
    parser.add_argument("--views", type=int, default=4, help="views per unit for --trainer randomize")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--units", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--models", type=Path, default=HERE / "models")
    args = parser.parse_args(argv)
    if not args.stem.is_file():
        parser.error(f"no recording at {args.stem}: pass --stem PATH or set CAUSALPHYS_STEM")
    reference = reference_columns()
    started = time.time()
    envs, views = training_data(args.units, args.seed, args.views if args.trainer == "randomize" else 0)
    settings = {"task": "dense", "steps": args.steps, "batch_size": 16, "lr": 1e-3, "seed": args.seed, "progress": True}
    net = cp.nets.UNet(in_channels=1, n_outputs=len(KINDS), width=16, depth=2)
    if args.trainer == "randomize":
        trainer = cp.trainers.InstrumentRandomization(**settings).fit(net, envs, views=views)
    else:
        trainer = cp.ERM(**settings).fit(net, envs)
    trained = time.time() - started
    name = f"{args.trainer}_seed{args.seed}"
    trainer.save(args.models / f"{name}.pt")

    recording = read_image(args.stem, unit="nm")
    pixel = recording.pixel_size
    frame = torch.as_tensor(recording.data[:1], dtype=torch.float32)
    real = standardise(resample(frame, pixel, PIXEL))  # (1, h', w')
    maps = trainer.predict(real.unsqueeze(1))[0].numpy()  # (K, h', w')
    scale = PIXEL / pixel
    shape = recording.data.shape[1:]
    margin = 1.5 / pixel  # Å from the border: the reference's own border rule is 0.8 Å
    radius = 0.5 / pixel
    summary = {
        "trainer": args.trainer,
        "seed": args.seed,
        "steps": args.steps,
        "units_per_scanner": args.units,
        "train_seconds": trained,
    }
    if args.trainer == "randomize":
        summary["views_per_unit"] = args.views
    found_all, reference_all = [], []
    for kind, positions in zip(KINDS, find(maps)):
        found = (positions + 0.5) * scale - 0.5  # the resampled frame's pixel centres in the recording's pixels
        ref = reference[kind]
        summary[kind] = scores(match_columns(found, ref, radius, shape=shape, margin=margin), pixel)
        found_all.append(found)
        reference_all.append(ref)
    found = np.concatenate(found_all)
    ref = np.concatenate(reference_all)
    summary["all"] = scores(match_columns(found, ref, radius, shape=shape, margin=margin), pixel)
    basis = real_space_basis(lattice_vectors(torch.as_tensor(recording.data[0]), pixel))
    inner = found[
        (found[:, 0] > margin)
        & (found[:, 0] < shape[1] - margin)
        & (found[:, 1] > margin)
        & (found[:, 1] < shape[0] - margin)
    ]
    if len(inner) >= 3:
        lattice = fit_lattice(inner, basis)
        a = lattice_constant(lattice, pixel)
        summary["lattice_constant_angstrom"] = a
        summary["lattice_constant_error_percent"] = 100 * (a / A_SRTIO3 - 1)
        summary["lattice_residual_rms_pm"] = lattice.rms * pixel * 100
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / f"{name}.json", json.dumps(summary, indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    axes[0].imshow(recording.data[0], cmap="gray")
    for positions, colour, kind in zip(found_all, ("tab:orange", "tab:cyan"), KINDS):
        axes[0].scatter(positions[:, 0], positions[:, 1], s=10, c=colour, label=f"found {kind}")
    axes[0].scatter(
        ref[:, 0], ref[:, 1], s=40, facecolors="none", edgecolors="white", linewidths=0.5, label="reference"
    )
    axes[0].legend(loc="upper right", fontsize=7)
    s = summary["all"]
    axes[0].set_title(
        f"{LABELS[args.trainer]} U-Net, simulator only: precision {s['precision']:.2f}, recall {s['recall']:.2f} at "
        f"0.5 Å, median error {s['median_error_pm']:.0f} pm",
        fontsize=9,
    )
    axes[1].imshow(maps[0] + maps[1], cmap="magma")
    axes[1].set_title("predicted column maps (SrO + Ti), 0.3 Å/px", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    write_atomic(args.out / f"{name}.png", lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
