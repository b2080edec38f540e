"""The reference for the real image: its atomic columns found by a classical, model-free method, with an uncertainty.

Method (no model, nothing trained): the lattice from the image's Fourier transform (``lattice_vectors``; the zone
axis from the spacing ratio and angle, ``cubic_zone_axis``); the columns as local maxima of the image smoothed by one
pixel (``column_maxima``), each refined by a least-squares 2-D Gaussian fit with its neighbours' tails
(``fit_columns``, radius 0.8 Å); a lattice fitted to the refined centres (``fit_lattice``) names each column's cell
and its kind (the sublattice of brighter columns is SrO, the other Ti; O columns are too faint in ADF to find).

Uncertainty, stated three ways: the fits' standard errors (the noise's share), the change of each centre under
another reasonable method (a 0.6 Å fit radius; a background-subtracted centre of mass), and the scatter about the
best lattice (scan noise and real distortions as well as fit errors — an upper bound for the reference's error).

Writes ``reference/columns.csv`` (one row per column: pixels and Å, kind, amplitude, width, standard errors),
``reference/reference.json`` (the summary) and ``reference/reference.png``.

    .venv/bin/python experiments/sim_to_real/reference.py [--stem PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from causalphys.atomic import write_atomic, write_text
from causalphys.data.readers import read_image
from causalphys.microscopy.analysis import column_maxima, cubic_zone_axis, fit_columns, lattice_vectors
from causalphys.microscopy.columns import fit_lattice, match_columns, real_space_basis

HERE = Path(__file__).resolve().parent
DEFAULT_STEM = HERE.parents[1].parent / "shared" / "data" / "stem" / "srtio3_adf.hdf5"
A_SRTIO3 = 3.905  # Å, cubic SrTiO3 at room temperature
RADIUS = 0.8  # Å: the fit disc (less than half the 1.95 Å between SrO and Ti columns)
MIN_HEIGHT = 0.15  # of the way from the 1st to the 99th percentile: the Ti columns stand at about 0.4


def centre_of_mass(image: np.ndarray, positions: np.ndarray, radius_px: float) -> np.ndarray:
    """The background-subtracted centre of mass within ``radius_px`` of each position (pixels)."""
    size = int(math.ceil(radius_px)) + 1
    dy, dx = np.mgrid[-size : size + 1, -size : size + 1]
    out = []
    for x, y in positions:
        x0, y0 = int(round(x)), int(round(y))
        window = image[y0 - size : y0 + size + 1, x0 - size : x0 + size + 1]
        disc = (dx + x0 - x) ** 2 + (dy + y0 - y) ** 2 <= radius_px**2
        weights = np.where(disc, window - window[disc].min(), 0.0)
        out.append((x0 + (weights * dx).sum() / weights.sum(), y0 + (weights * dy).sum() / weights.sum()))
    return np.array(out)


def reference(image: np.ndarray, pixel_size: float) -> dict:
    tensor = torch.as_tensor(image)
    lattice = lattice_vectors(tensor, pixel_size)
    zone = cubic_zone_axis(lattice)
    maxima = column_maxima(tensor, pixel_size, radius=RADIUS, min_height=MIN_HEIGHT)
    fits = fit_columns(tensor, pixel_size, maxima, radius=RADIUS)
    fit = fit_lattice(fits.position, real_space_basis(lattice))
    # the kind: the sublattice (parity of one cell index) whose columns are brighter is SrO
    split = []
    for axis in (0, 1):
        parity = fit.indices[:, axis] % 2
        split.append((abs(np.median(fits.amplitude[parity == 0]) - np.median(fits.amplitude[parity == 1])), axis))
    axis = max(split)[1]
    parity = fit.indices[:, axis] % 2
    bright = int(np.median(fits.amplitude[parity == 1]) > np.median(fits.amplitude[parity == 0]))
    kind = np.where(parity == bright, "SrO", "Ti")
    # the lattice constant: the vector along which the kinds alternate is a/2 ([001]), the other a/sqrt(2) ([1-10])
    lengths = fit.lengths(pixel_size)
    a_001 = 2 * lengths[axis]
    a_110 = math.sqrt(2) * lengths[1 - axis]
    # the same columns by other reasonable methods
    other_radius = fit_columns(tensor, pixel_size, maxima, radius=0.6)
    moved_radius = match_columns(other_radius.position, fits.position, radius=0.5 / pixel_size).errors
    com = centre_of_mass(image, fits.position, 0.5 / pixel_size)
    moved_com = np.linalg.norm(com - fits.position, axis=1)
    pm = 100 * pixel_size  # pm per pixel
    stat = np.linalg.norm(fits.position_error, axis=1)
    residual = np.linalg.norm(fit.residuals, axis=1)
    summary = {
        "pixel_size_angstrom": pixel_size,
        "shape": list(image.shape),
        "zone_axis": zone.axis,
        "zone_axis_ratio": zone.ratio,
        "zone_axis_angle_deg": zone.angle,
        "fft_spacings_angstrom": list(lattice.spacings),
        "columns": int(len(fits.position)),
        "columns_by_kind": {k: int((kind == k).sum()) for k in ("SrO", "Ti")},
        "amplitude_ratio_SrO_Ti": float(
            np.median(fits.amplitude[kind == "SrO"]) / np.median(fits.amplitude[kind == "Ti"])
        ),
        "sigma_angstrom_median": float(np.median(fits.sigma)),
        "lattice_constant_001_angstrom": a_001,
        "lattice_constant_110_angstrom": a_110,
        "lattice_constant_mean_angstrom": (a_001 + a_110) / 2,
        "lattice_constant_error_vs_3905_percent": 100 * ((a_001 + a_110) / 2 / A_SRTIO3 - 1),
        "apparent_strain_001_percent": 100 * (a_001 / A_SRTIO3 - 1),
        "apparent_strain_110_percent": 100 * (a_110 / A_SRTIO3 - 1),
        "lattice_angle_deg": fit.angle(),
        "uncertainty_pm": {
            "fit_standard_error_median": float(np.median(stat) * pm),
            "fit_radius_0.6_vs_0.8_median_shift": float(np.median(moved_radius) * pm),
            "centre_of_mass_vs_gaussian_median_shift": float(np.median(moved_com) * pm),
            "lattice_residual_rms": fit.rms * pm,
            "lattice_residual_median": float(np.median(residual) * pm),
            "lattice_residual_p95": float(np.percentile(residual, 95) * pm),
        },
    }
    table = {
        "x_px": fits.position[:, 0],
        "y_px": fits.position[:, 1],
        "x_angstrom": fits.position[:, 0] * pixel_size,
        "y_angstrom": fits.position[:, 1] * pixel_size,
        "kind": kind,
        "amplitude": fits.amplitude,
        "sigma_angstrom": fits.sigma,
        "error_x_pm": fits.position_error[:, 0] * pm,
        "error_y_pm": fits.position_error[:, 1] * pm,
        "residual_x_pm": fit.residuals[:, 0] * pm,
        "residual_y_pm": fit.residuals[:, 1] * pm,
    }
    return {"summary": summary, "table": table}


def write(result: dict, image: np.ndarray, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    table = result["table"]
    rows = len(table["kind"])
    header = list(table)
    lines = [",".join(header)]
    for i in range(rows):
        lines.append(",".join(str(table[k][i]) if k == "kind" else f"{table[k][i]:.6g}" for k in header))
    write_text(out / "columns.csv", "\n".join(lines) + "\n")
    write_text(out / "reference.json", json.dumps(result["summary"], indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["summary"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    axes[0].imshow(image, cmap="gray")
    for k, colour in (("SrO", "tab:orange"), ("Ti", "tab:cyan")):
        sel = table["kind"] == k
        axes[0].scatter(table["x_px"][sel], table["y_px"][sel], s=8, c=colour, label=f"{k} ({sel.sum()})")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title(f"SrTiO3 {s['zone_axis']}: {s['columns']} columns, Gaussian fits", fontsize=10)
    axes[1].imshow(image, cmap="gray", alpha=0.5)
    scale = 20  # arrows 20x their length
    axes[1].quiver(
        table["x_px"],
        table["y_px"],
        scale * table["residual_x_pm"] / (100 * s["pixel_size_angstrom"]),
        -scale * table["residual_y_pm"] / (100 * s["pixel_size_angstrom"]),
        angles="xy",
        scale_units="xy",
        scale=1,
        color="tab:red",
        width=0.003,
    )
    u = s["uncertainty_pm"]
    axes[1].set_title(
        f"residuals from the fitted lattice (x{scale}): rms {u['lattice_residual_rms']:.1f} pm; "
        f"a = {s['lattice_constant_001_angstrom']:.3f} / {s['lattice_constant_110_angstrom']:.3f} Å",
        fontsize=10,
    )
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    write_atomic(out / "reference.png", lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stem", type=Path, default=Path(os.environ.get("CAUSALPHYS_STEM", DEFAULT_STEM)))
    parser.add_argument("--unit", default="nm", help="the unit of the file's pixel scale (the file stores none)")
    parser.add_argument("--out", type=Path, default=HERE / "reference")
    args = parser.parse_args(argv)
    if not args.stem.is_file():
        parser.error(f"no recording at {args.stem}: pass --stem PATH or set CAUSALPHYS_STEM")
    recording = read_image(args.stem, unit=args.unit)
    image = recording.data[0]
    result = reference(image, recording.pixel_size)
    write(result, image, args.out)
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
