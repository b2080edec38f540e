"""The picture a microscopist looks at first: the same specimen through every named scanner, and one row per
intervention (dose, drift, probe width) — all counterfactuals of one sampled unit (same specimen, same noise).

    python -m causalphys.cli.montage [--seed 0] [--out DIR]      # writes DIR/montage.png
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

import causalphys as cp
from causalphys.atomic import write_atomic


def montage_figure(seed: int = 0):
    """The figure of :func:`scanner_montage`: one SrTiO3-like specimen through each scanner preset and under dose,
    drift and probe interventions, a row each. Every panel shows the image as the nets see it — standardised per
    image, ``(x - mean) / std`` (:func:`~causalphys.data.standardize_images`) — on one intensity scale for the whole
    figure (its colour bar, in standard deviations), so that noise and blur compare across panels; in ADU the
    scanners' gains (an order of magnitude apart) and the doses would leave most panels black."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state

    scanners = cp.load_scanners()
    scm = cp.microscopy.confounded_lab(scanners, [cp.microscopy.Lab("montage", (0, 1), 1.0)])
    specimen = scm.do(lab=0.0, label=0.0, phase=0.0, lattice_constant=3.905, rotation=0.2).sample(
        1, seed=seed, return_noise=True
    )
    base = {"scanner": 0.0}
    rows = [
        ("scanner", [(s.name, {"scanner": float(i)}) for i, s in enumerate(scanners)]),
        ("dose (e⁻/Å²)", [(f"{d:.0e}", {**base, "dose": d}) for d in (1e2, 1e3, 1e4, 1e6)]),
        ("drift (Å/s)", [(f"{v:g}", {**base, "drift_speed": v, "dwell_time": 20e-6}) for v in (0.0, 5.0, 15.0, 40.0)]),
        ("probe σ (Å)", [(f"{p:g}", {**base, "probe_sigma": p}) for p in (0.3, 0.6, 1.0, 1.5)]),
    ]
    images = [
        [cp.data.standardize_images(scm.counterfactual(specimen, do=do)["image"])[0, 0].numpy() for _, do in settings]
        for _, settings in rows
    ]
    flat = np.concatenate([i.ravel() for row in images for i in row])
    low, high = (float(v) for v in np.percentile(flat, [0.5, 99.5]))
    fig = Figure(figsize=(10.8, 2.6 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 4, squeeze=False)
    for r, (label, settings) in enumerate(rows):
        for c, ((title, _), image) in enumerate(zip(settings, images[r])):
            ax = axes[r, c]
            shown = ax.imshow(image, cmap="gray", vmin=low, vmax=high)
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=10)
    fig.colorbar(shown, ax=axes.ravel().tolist(), label="standardised intensity (std of the image)", shrink=0.6)
    fig.suptitle(
        "One SrTiO3-like specimen, re-imaged (counterfactuals of the same units and noise), as the nets see it",
        fontsize=11,
    )
    return fig


def scanner_montage(path: str | os.PathLike, seed: int = 0) -> Path:
    """Write :func:`montage_figure` to ``path`` (PNG, atomically) and return the path."""
    fig = montage_figure(seed)
    return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    print(f"wrote {scanner_montage(args.out / 'montage.png', args.seed)}")


if __name__ == "__main__":
    main()
