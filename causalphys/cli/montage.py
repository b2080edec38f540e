"""The picture a microscopist looks at first: the same specimen through every named scanner, and one row per
intervention (dose, drift, probe width) — all counterfactuals of one sampled unit (same specimen, same noise).

    python -m causalphys.cli.montage [--seed 0] [--out DIR]      # writes DIR/montage.png
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import causalphys as cp
from causalphys.atomic import write_atomic


def scanner_montage(path: str | os.PathLike, seed: int = 0) -> Path:
    """Draw one SrTiO3-like specimen through each scanner preset and under dose, drift and probe interventions;
    write the figure to ``path`` (PNG, atomically) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig, axes = plt.subplots(len(rows), 4, figsize=(10, 2.6 * len(rows)))
    for r, (label, settings) in enumerate(rows):
        for c, (title, do) in enumerate(settings):
            image = scm.counterfactual(specimen, do=do)["image"][0]
            ax = axes[r, c]
            ax.imshow(image.numpy(), cmap="gray")
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=10)
    fig.suptitle("One SrTiO3-like specimen, re-imaged (counterfactuals of the same units and noise)", fontsize=11)
    fig.tight_layout()
    try:
        return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    finally:
        plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    print(f"wrote {scanner_montage(args.out / 'montage.png', args.seed)}")


if __name__ == "__main__":
    main()
