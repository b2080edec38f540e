"""The picture a microscopist looks at first: the same specimen through every named scanner, and one row per
intervention (dose, drift, probe width) — all counterfactuals of one sampled batch (same specimen, same noise).

    .venv/bin/python experiments/microscopy_montage/make_figure.py [--seed 0] [--out experiments/microscopy_montage]

The figure is drawn by ``causalphys.cli.montage.scanner_montage`` (also part of ``make demo``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from causalphys.cli.montage import scanner_montage

HERE = Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    print(f"wrote {scanner_montage(args.out / 'montage.png', args.seed)}")


if __name__ == "__main__":
    main()
