"""The report of a sweep of experiment loops (``causalphys -m active=... active/strategy=random,uncertainty
seed=0,1,2`` then ``causalphys report DIR``): learning curves per strategy, and the labels each strategy needs to
reach a target score.

- the curve: mean ± std over seeds of the metric on each scored environment after each round, against the labels
  spent so far (``labelled``);
- labels to target: for each run, the labels spent at the first round whose score is at least ``target`` (runs that
  never get there count as "not reached"); per strategy the mean ± std over the runs that reached it, how many did,
  and the ratio to the random strategy's mean.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from causalphys.errors import ParameterError
from causalphys.evaluation.report import markdown_table, write_file_atomic
from causalphys.evaluation.sweep import Sweep

BASELINE = "random"


def active_rows(sweep: Sweep) -> pd.DataFrame:
    """The rows of the sweep's experiment loops (those with a ``labelled`` column value)."""
    if "labelled" not in sweep.rows.columns:
        return sweep.rows.iloc[0:0]
    rows = sweep.rows[sweep.rows["labelled"].notna()].copy()
    rows["labelled"] = rows["labelled"].astype(int)
    rows["round"] = rows["round"].astype(int)
    return rows


def curves(rows: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """``strategy, env, labelled, mean, std, runs`` of ``metric``."""
    rows = rows[rows["metric"] == metric]
    grouped = rows.groupby(["trainer", "env", "labelled"])["value"]
    out = grouped.agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"trainer": "strategy", "count": "runs"})


def labels_to_target(rows: pd.DataFrame, target: float, env: str, metric: str = "accuracy") -> pd.DataFrame:
    """Per run: ``strategy, run, seed, labels`` — the labels spent when ``env``'s ``metric`` first reached
    ``target`` (``NaN``: never within the budget)."""
    rows = rows[(rows["metric"] == metric) & (rows["env"] == env)]
    if rows.empty:
        raise ParameterError(f"no {metric!r} rows for environment {env!r} in this sweep")
    out = []
    for (strategy, run), part in rows.groupby(["trainer", "run"]):
        part = part.sort_values("round")
        hit = part[part["value"] >= target]
        labels = float(hit["labelled"].iloc[0]) if len(hit) else float("nan")
        out.append({"strategy": strategy, "run": run, "seed": part["seed"].iloc[0], "labels": labels})
    return pd.DataFrame(out)


def _target_table(needed: pd.DataFrame, budget: int) -> str:
    body = []
    base = needed.loc[needed["strategy"] == BASELINE, "labels"].mean()
    for strategy, part in needed.groupby("strategy"):
        reached = part["labels"].dropna()
        mean = reached.mean() if len(reached) else float("nan")
        cell = f"{mean:.0f} ± {reached.std():.0f}" if len(reached) > 1 else (f"{mean:.0f}" if len(reached) else "—")
        ratio = f"{mean / base:.2f}" if len(reached) and base == base and strategy != BASELINE else ""
        body.append([strategy, cell, f"{len(reached)}/{len(part)}", ratio])
    note = f"\n\nRuns that never reached the target within the budget ({budget} labels) are left out of the mean."
    return markdown_table(["strategy", "labels to target (mean ± std)", "runs reaching it", "/ random"], body) + note


def plot_curves(table: pd.DataFrame, path, target: float | None = None, metric: str = "accuracy") -> Path:
    from matplotlib.figure import Figure  # no pyplot: no global figure state

    envs = list(dict.fromkeys(table["env"]))
    fig = Figure(figsize=(4.2 * len(envs), 3.4))
    axes = fig.subplots(1, len(envs), squeeze=False, sharey=True)
    for ax, env in zip(axes[0], envs):
        for strategy, part in table[table["env"] == env].groupby("strategy"):
            part = part.sort_values("labelled")
            ax.plot(part["labelled"], part["mean"], marker="o", ms=3, label=f"{strategy} ({part['runs'].max()} runs)")
            std = part["std"].fillna(0.0)
            ax.fill_between(part["labelled"], part["mean"] - std, part["mean"] + std, alpha=0.2)
        if target is not None:
            ax.axhline(target, color="k", lw=0.8, ls="--", label=f"target {target:g}")
        ax.set_title(env)
        ax.set_xlabel("labelled units spent")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{metric} (mean ± std over seeds)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return write_file_atomic(Path(path), lambda tmp: fig.savefig(tmp, dpi=120, format="png"))


def write_active_report(
    sweep: Sweep, out_dir=None, target: float | None = None, env: str | None = None, metric: str = "accuracy"
) -> dict[str, Path]:
    """``report.md``, ``curves.csv`` and ``curves.png`` of the sweep's experiment loops in ``out_dir`` (default:
    the sweep directory); with ``target``, the labels each strategy needs to reach it on ``env`` (default: the
    first scored environment)."""
    rows = active_rows(sweep)
    if rows.empty:
        raise ParameterError(f"{sweep.path} holds no experiment-loop runs (active=...)")
    out = Path(out_dir) if out_dir is not None else sweep.path
    table = curves(rows, metric)
    lines = [f"# Experiment loops: {sweep.path}", "", f"{rows['run'].nunique()} finished run(s)."]
    for scored in dict.fromkeys(table["env"]):
        part = table[table["env"] == scored]
        pivot = part.pivot_table(index="labelled", columns="strategy", values="mean")
        spread = part.pivot_table(index="labelled", columns="strategy", values="std")
        body = [
            [str(labelled), *(f"{pivot.loc[labelled, s]:.3f} ± {spread.loc[labelled, s]:.3f}" for s in pivot.columns)]
            for labelled in pivot.index
        ]
        lines += ["", f"## {metric} on {scored} after each round (mean ± std over seeds)", ""]
        lines += [markdown_table(["labelled", *pivot.columns], body)]
    if target is not None:
        scored = env or str(table["env"].iloc[0])
        needed = labels_to_target(rows, target, scored, metric)
        budget = int(rows["labelled"].max())
        lines += ["", f"## Labels to reach {metric} {target:g} on {scored}", "", _target_table(needed, budget)]
    written = {
        "curves": write_file_atomic(out / "curves.csv", lambda tmp: table.to_csv(tmp, index=False)),
        "plot": plot_curves(table, out / "curves.png", target, metric),
    }
    text = "\n".join(lines) + "\n"
    written["report"] = write_file_atomic(out / "report.md", lambda tmp: Path(tmp).write_text(text))
    return written
