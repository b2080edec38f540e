"""The physics learners beside the generic ones on the scanner-shift study (issue 20), and the goals checked.

Rows: every learner of ``study/`` with its yaml defaults (no hyper-parameter search), a physics learner's variants
told apart by their views (``trainer.views.source``, the prior's name; a ``diagnostic`` prior is fitted to a test
environment on purpose and is not checked against the goals); accuracy (%) mean ± std over seeds (the
final-step model = training-domain validation with one candidate), and the counterfactual flip rate. Then the goals
of issue 20 against the oracle's numbers from the same folder.

    .venv/bin/python experiments/scanner_shift/physics_table.py [experiments/scanner_shift/study]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
COLUMNS = [
    ("val", None, "in-distribution"),
    ("test", "test", "test lab (reversed)"),
    ("test", "heldout_scanners", "held-out scanners"),
    ("test", "severity=0", "severity 0"),
    ("test", "severity=1", "severity 1"),
    ("test", "severity=1.5", "severity 1.5"),
    ("val", "cf", "flip rate"),
]
ORDER = ["erm", "irm", "vrex", "content_style", "oracle"]


def variant(meta: dict) -> str:
    """``trainer`` plus, for a physics learner, where its views come from."""
    name = meta["trainer"]
    views = meta["config"]["trainer"].get("views")
    if not views:
        return name
    source = views.get("source", "prior")
    return f"{name} ({views['prior']['name']})" if source == "prior" else f"{name} ({source})"


def load(folder: Path) -> pd.DataFrame:
    frames = []
    for path in sorted(folder.glob("*/results.csv")):
        meta = json.loads((path.parent / "run.json").read_text())
        if meta["hparams_seed"] is None and meta["holdout"] is None:
            frames.append(pd.read_csv(path).assign(seed=meta["seed"], variant=variant(meta)))
    return pd.concat(frames)


def cell(rows: pd.DataFrame, split: str, env: str | None) -> pd.Series:
    metric = "cf_flip_rate" if env == "cf" else "accuracy"
    sel = rows[(rows["split"] == split) & (rows["metric"] == metric)]
    if env not in (None, "cf"):
        sel = sel[sel["env"] == env]
    return sel.groupby("seed")["value"].mean() * 100


def main(folder: Path = HERE / "study", seeds: tuple[int, ...] | None = None) -> str:
    rows = load(folder)
    if seeds is not None:
        rows = rows[rows["seed"].isin(seeds)]
    variants = sorted(set(rows["variant"]), key=lambda v: (ORDER.index(v) if v in ORDER else len(ORDER), v))
    variants = [v for v in variants if v in ORDER or "(" in v]
    lines = ["| learner | seeds | " + " | ".join(c[2] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    means = {}
    for v in variants:
        r = rows[rows["variant"] == v]
        cells = []
        for split, env, label in COLUMNS:
            per_seed = cell(r, split, env)
            means[(v, label)] = per_seed.mean()
            cells.append(
                f"{per_seed.mean():.1f} ± {per_seed.std():.1f}" if len(per_seed) > 1 else f"{per_seed.mean():.1f}"
            )
        lines.append(f"| {v} | {r['seed'].nunique()} | " + " | ".join(cells) + " |")
    lines += ["", "Goals (issue 20; means over the seeds above):", ""]
    oracle = means.get(("oracle", "severity 1.5"))
    for v in [v for v in variants if "(" in v and "diagnostic" not in v]:  # a diagnostic prior uses the test
        checks = [
            ("test lab >= 72", means[(v, "test lab (reversed)")], 72.0),
            ("in-distribution >= 72", means[(v, "in-distribution")], 72.0),
            ("held-out scanners >= 70", means[(v, "held-out scanners")], 70.0),
        ]
        if oracle is not None:
            checks.append((f"severity 1.5 >= oracle + 5 = {oracle + 5:.1f}", means[(v, "severity 1.5")], oracle + 5))
        text = "; ".join(f"{name}: {value:.1f} {'met' if value >= bar else f'MISSED by {bar - value:.1f}'}"
                         for name, value, bar in checks)  # fmt: skip
        lines.append(f"- {v}: {text}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "study"))
