"""The report of a sweep of experiment loops (``causalphys -m active=... active/strategy=random,uncertainty
seed=0,1,2`` then ``causalphys report DIR``): learning curves per strategy, and the labels each strategy needs to
reach a target score.

- the curve: mean ± std over seeds of the metric on each scored environment after each round, against the labels
  spent so far (``labelled``);
- labels to target: for each run, the labels spent at the first round whose score is at least ``target`` ("first")
  and at the round from which it stays at least ``target`` to the end of the budget ("for good": a curve that
  touches the target once by luck does not count). A run that does not get there within the budget is censored: it
  counts as the budget plus one round (the least it could need) and the table says how many runs reached the target.
  Per strategy: the median and the mean ± std of those numbers, and the ratio of the mean to the random strategy's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from causalphys.atomic import write_atomic
from causalphys.errors import ParameterError
from causalphys.evaluation.report import markdown_table
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
    """Per run: ``strategy, run, seed, first, for_good`` — the labels spent when ``env``'s ``metric`` first reached
    ``target``, and from which round on it stayed there to the end (``NaN``: not within the budget)."""
    rows = rows[(rows["metric"] == metric) & (rows["env"] == env)]
    if rows.empty:
        raise ParameterError(f"no {metric!r} rows for environment {env!r} in this sweep")
    out = []
    for (strategy, run), part in rows.groupby(["trainer", "run"]):
        part = part.sort_values("round")
        above = (part["value"] >= target).to_numpy()
        labelled = part["labelled"].to_numpy()
        first = float(labelled[above.argmax()]) if above.any() else float("nan")
        k = len(above)
        while k > 0 and above[k - 1]:
            k -= 1
        for_good = float(labelled[k]) if k < len(above) else float("nan")
        out.append(
            {"strategy": strategy, "run": run, "seed": part["seed"].iloc[0], "first": first, "for_good": for_good}
        )
    return pd.DataFrame(out)


def _target_table(needed: pd.DataFrame, budget: int, step: int) -> str:
    censored = budget + step
    base = {c: needed.loc[needed["strategy"] == BASELINE, c].fillna(censored).mean() for c in ("first", "for_good")}
    body = []
    for strategy, part in needed.groupby("strategy"):
        row = [strategy]
        for column in ("for_good", "first"):
            labels = part[column].fillna(censored)
            reached = int(part[column].notna().sum())
            spread = f" ± {labels.std():.0f}" if len(labels) > 1 else ""
            ratio = (
                f"{labels.mean() / base[column]:.2f}" if strategy != BASELINE and base[column] == base[column] else ""
            )
            row += [f"{labels.median():.0f}", f"{labels.mean():.0f}{spread}", f"{reached}/{len(part)}", ratio]
        body.append(row)
    header = ["strategy"]
    for name in ("for good", "first"):
        header += [f"{name}: median", f"{name}: mean ± std", f"{name}: runs reaching", f"{name}: / random"]
    note = (
        f"\n\nLabels spent when the score reached the target and stayed there to the end of the budget (for good), "
        f"and when it first reached it. A run that did not get there within the budget ({budget} labels) counts as "
        f"{censored} (the budget plus one round): a lower bound, so means with such runs are lower bounds too."
    )
    return markdown_table(header, body) + note


def plot_curves(
    table: pd.DataFrame, path, target: float | dict[str, float] | None = None, metric: str = "accuracy"
) -> Path:
    """The curves, one panel per scored environment; ``target``: a line on every panel, or ``{env: value}``."""
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
        line = target.get(env) if isinstance(target, dict) else target
        if line is not None:
            ax.axhline(line, color="k", lw=0.8, ls="--", label=f"target {line:g}")
        ax.set_title(env)
        ax.set_xlabel("labelled units spent")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"{metric} (mean ± std over seeds)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return write_atomic(Path(path), lambda tmp: fig.savefig(tmp, dpi=120, format="png"))


def write_active_report(
    sweep: Sweep,
    out_dir=None,
    target: float | None = None,
    env: str | None = None,
    metric: str = "accuracy",
    targets: dict[str, float] | None = None,
) -> dict[str, Path]:
    """``report.md``, ``curves.csv`` and ``curves.png`` of the sweep's experiment loops in ``out_dir`` (default:
    the sweep directory); with ``target``, the labels each strategy needs to reach it on ``env`` (default: the
    first scored environment); ``targets``: ``{env: target}``, one such table per environment (``None`` for env:
    the first scored one)."""
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
    first = str(table["env"].iloc[0])
    wanted = {(name if name is not None else first): value for name, value in (targets or {}).items()}
    if target is not None:
        wanted[env or first] = target
    scored_envs = set(table["env"])
    unknown = sorted(set(wanted) - scored_envs)
    if unknown:
        raise ParameterError(f"target environment(s) {unknown} were not scored; the loops scored {sorted(scored_envs)}")
    budget = int(rows["labelled"].max())
    step = int(rows["labelled"].min())  # the first round's batch
    for scored, value in wanted.items():
        needed = labels_to_target(rows, value, scored, metric)
        lines += ["", f"## Labels to reach {metric} {value:g} on {scored}", "", _target_table(needed, budget, step)]
    written = {
        "curves": write_atomic(out / "curves.csv", lambda tmp: table.to_csv(tmp, index=False)),
        "plot": plot_curves(table, out / "curves.png", wanted, metric),
    }
    text = "\n".join(lines) + "\n"
    written["report"] = write_atomic(out / "report.md", lambda tmp: Path(tmp).write_text(text))
    return written
