"""The per-trainer table of the scanner-shift study with each trainer's yaml defaults (no hyper-parameter search):
accuracy (%) mean ± std over the study's seeds 0-2 (the folder also holds seeds 3 and 4 of ERM, the oracle and
the physics learners, for physics_table.py), final-step models.

    .venv/bin/python experiments/scanner_shift/table.py [experiments/scanner_shift/study]
"""

import json
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ORDER = ["erm", "irm", "vrex", "groupdro", "fishr", "coral", "mmd", "ibirm", "oracle"]
COLUMNS = [
    ("val", None, "train labs (val)"),
    ("test", "test", "test lab (reversed)"),
    ("test", "heldout_scanners", "held-out scanners"),
    ("test", "severity=0", "routing 0.5 (severity 0)"),
    ("test", "severity=1", "severity 1"),
    ("val", "cf", "counterfactual flip rate"),
]


def main(folder: Path = HERE / "study") -> str:
    frames = []
    for path in sorted(folder.glob("*/results.csv")):
        meta = json.loads((path.parent / "run.json").read_text())
        if meta["hparams_seed"] is None and meta["holdout"] is None and meta["seed"] in (0, 1, 2):
            frames.append(pd.read_csv(path).assign(seed=meta["seed"]))
    rows = pd.concat(frames)
    lines = ["| trainer | seeds | " + " | ".join(c[2] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for trainer in [t for t in ORDER if t in set(rows["trainer"])]:
        r = rows[rows["trainer"] == trainer]
        cells = []
        for split, env, _ in COLUMNS:
            metric = "cf_flip_rate" if env == "cf" else "accuracy"
            sel = r[(r["split"] == split) & (r["metric"] == metric)]
            if env not in (None, "cf"):
                sel = sel[sel["env"] == env]
            per_seed = sel.groupby("seed")["value"].mean() * 100
            cells.append(f"{per_seed.mean():.1f} ± {per_seed.std():.1f}")
        lines.append(f"| {trainer} | {r['seed'].nunique()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "study"))
