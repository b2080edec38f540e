"""The per-trainer table of the scanner-shift study with each trainer's yaml defaults (no hyper-parameter search):
accuracy (%) mean ± std over the study's seeds 0-2 (the folder also holds seeds 3 and 4 of ERM, the oracle and
the physics learners, for physics_table.py), final-step models.

    .venv/bin/python experiments/scanner_shift/table.py [experiments/scanner_shift/study]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from physics_table import cell, load  # noqa: E402  (one reader of the study's runs)

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
    rows = load(folder)
    rows = rows[rows["seed"].isin((0, 1, 2))]
    lines = ["| trainer | seeds | " + " | ".join(c[2] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for trainer in [t for t in ORDER if t in set(rows["trainer"])]:
        r = rows[rows["trainer"] == trainer]
        cells = []
        for split, env, _ in COLUMNS:
            per_seed = cell(r, split, env)
            cells.append(f"{per_seed.mean():.1f} ± {per_seed.std():.1f}")
        lines.append(f"| {trainer} | {r['seed'].nunique()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "study"))
