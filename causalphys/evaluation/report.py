"""Tables and plots of a sweep's selected results, and the report written next to the sweep.

Every number here comes from :func:`causalphys.evaluation.selection.select`'s rows and is labelled with the rule
that chose it. Per seed ``s`` (one group per trainer and seed), with ``m`` the metric:

- in-distribution ``ID_s = mean_{e in train} m_val(e)`` (over the chosen runs' validation rows);
- test environment ``t``: ``m_test(t)``; worst ``= min_t m_test(t)`` (``max`` for lower-is-better metrics);
- OOD gap ``= ID_s - mean_t m_test(t)`` over the benchmark's own test environments ``t`` (those no shift made,
  so that adding a shift to a sweep does not move it; over every test environment where all come from shifts),
  with the sign turned for lower-is-better metrics (``mean_t m_test(t) - ID_s``): a positive gap is always a loss.

A cell is ``mean ± std`` over seeds (``std`` with ``ddof=1``; one seed shows the mean alone); accuracy is printed
in percent, every other metric raw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from causalphys.atomic import write_atomic
from causalphys.errors import CausalPhysError
from causalphys.evaluation.metrics import selection_metric
from causalphys.evaluation.selection import ALL, Rule, agreement, candidates, choose, higher_is_better, selected_rows
from causalphys.evaluation.sweep import Sweep, SweepError, load_sweep

DEFAULT_RULE = "training-domain validation"
MISSING = "—"


class ReportError(CausalPhysError, ValueError):
    """A table or plot cannot be made from the given rows (no rows of the metric, several benchmarks mixed, ...)."""


def _scale(metric: str) -> float:
    return 100.0 if metric == "accuracy" else 1.0


def _format(mean: float, std: float | None, metric: str) -> str:
    """``"mean ± std"`` (or the mean alone when ``std`` is ``None``), in percent for accuracy."""
    digits, scale = (1 if metric == "accuracy" else 3), _scale(metric)
    if std is None:
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def _cell(values: Sequence[float], metric: str) -> str:
    """``"mean ± std"`` over seeds (``ddof=1``), the mean alone for one value, a dash for none."""
    v = np.asarray([x for x in values if pd.notna(x)], dtype=float)
    if v.size == 0:
        return MISSING
    return _format(v.mean(), v.std(ddof=1) if v.size > 1 else None, metric)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: one header row, then ``rows`` (cells formatted with ``str``)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _rows_of(selected: pd.DataFrame, metric: str, benchmark: str | None) -> pd.DataFrame:
    """``selected``'s rows of ``metric`` (and of ``benchmark``); errors name what is missing."""
    benchmarks = list(dict.fromkeys(selected["benchmark"]))
    if benchmark is None and len(benchmarks) > 1:
        raise ReportError(f"the selected rows mix benchmarks {benchmarks}; pass benchmark= to choose one")
    rows = selected if benchmark is None else selected[selected["benchmark"] == benchmark]
    rows = rows[rows["metric"] == metric]
    if rows.empty:
        known = sorted(set(selected["metric"]))
        raise ReportError(f"no selected rows of metric {metric!r} (benchmark {benchmark!r}); metrics present: {known}")
    return rows


def _test_envs(rows: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(rows.loc[rows["split"] == "test", "env"]))


def per_seed(selected: pd.DataFrame, metric: str = "accuracy", benchmark: str | None = None) -> pd.DataFrame:
    """One row per (trainer, selection, seed): ``in-distribution``, one column per test environment,
    ``worst test`` and ``OOD gap`` (raw values, see the module docstring)."""
    rows = _rows_of(selected, metric, benchmark)
    envs = _test_envs(rows)
    worst = np.min if higher_is_better(metric) else np.max
    records = []
    for (trainer, rule, seed), unit in rows.groupby(["trainer", "selection", "seed"], sort=False):
        val = unit.loc[unit["split"] == "val", "value"]
        test = unit[unit["split"] == "test"].groupby("env", sort=False)["value"].mean()
        record = {"trainer": trainer, "selection": rule, "seed": seed, "in-distribution": val.mean()}
        record.update({env: test.get(env, np.nan) for env in envs})
        record["worst test"] = worst(test.to_numpy()) if len(test) else np.nan
        own = unit.loc[(unit["split"] == "test") & unit["shift"].isna(), "env"].unique() if "shift" in unit else []
        base = test[test.index.isin(own)] if len(own) else test
        gap = record["in-distribution"] - base.mean() if len(base) else np.nan
        record["OOD gap"] = gap if higher_is_better(metric) else -gap
        records.append(record)
    return pd.DataFrame.from_records(records)


def same_numbers(table: pd.DataFrame, keys: Sequence[str]) -> dict[tuple[str, str], str]:
    """``{(trainer, rule): label}`` where ``label`` joins (" = ") the rules of ``table["selection"]`` whose rows of
    that trainer hold the same numbers (they chose the same runs), in report order: a report shows such rules once
    per trainer, not once each."""
    labels = {}
    for trainer, rows in table.groupby("trainer", sort=False):
        groups: dict[tuple, list[str]] = {}
        for rule, part in rows.groupby("selection", sort=False):
            part = part.drop(columns=["selection"]).sort_values(list(keys), kind="stable").fillna(-1e300)
            numbers = tuple(tuple(round(v, 12) if isinstance(v, float) else v for v in r) for r in part.values)
            groups.setdefault(numbers, []).append(rule)
        labels.update({(trainer, rule): " = ".join(rules) for rules in groups.values() for rule in rules})
    return labels


def summary_table(selected: pd.DataFrame, metric: str = "accuracy", benchmark: str | None = None) -> str:
    """Markdown: one row per (trainer, selection rule); columns in-distribution, each test environment (in order
    first seen), worst test environment, OOD gap, and the number of seeds. Rules that chose the same runs for a
    trainer share its row (``rule A = rule B``)."""
    table = per_seed(selected, metric, benchmark)
    label = same_numbers(table, ["seed"])
    columns = [c for c in table.columns if c not in ("trainer", "selection", "seed")]
    rows, shown = [], set()
    for (trainer, rule), unit in table.groupby(["trainer", "selection"], sort=False):
        name = label[(trainer, rule)]
        if (trainer, name) in shown:
            continue
        shown.add((trainer, name))
        rows.append([trainer, name, *(_cell(unit[c], metric) for c in columns), str(unit["seed"].nunique())])
    return markdown_table(["trainer", "selection", *columns, "seeds"], rows)


def wilson_interval(share: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95 % for ``z = 1.96``) of a proportion ``share`` observed on ``n`` units: how sure
    one run's accuracy is, from its test units alone (Wilson, J. Am. Stat. Assoc. 22:209, 1927)."""
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def per_environment_table(
    selected: pd.DataFrame,
    descriptions: Mapping[str, str] | None = None,
    rule: str = DEFAULT_RULE,
    metric: str = "accuracy",
    benchmark: str | None = None,
    units: Mapping[str, int] | None = None,
) -> str:
    """Markdown: one row per test environment (with its description and, where ``units`` gives it, the number of
    test units behind each cell), one column per trainer; the cells are the test ``metric`` (mean ± std over seeds)
    of the runs ``rule`` chose — for an accuracy of a single run, with its 95 % Wilson interval in brackets."""
    rows = _rows_of(selected, metric, benchmark)
    rows = rows[(rows["selection"] == rule) & (rows["split"] == "test")]
    if rows.empty:
        raise ReportError(f"no test rows of metric {metric!r} chosen by rule {rule!r}")
    trainers = list(dict.fromkeys(rows["trainer"]))
    descriptions, units = descriptions or {}, units or {}
    body = []
    for env in _test_envs(rows):
        at = rows[rows["env"] == env]
        cells = []
        for t in trainers:
            values = at.loc[at["trainer"] == t].groupby("seed")["value"].mean()
            cell = _cell(values, metric)
            n = units.get(env)
            if metric == "accuracy" and len(values) == 1 and n:
                low, high = wilson_interval(float(values.iloc[0]), int(n))
                cell += f" [{100 * low:.1f}, {100 * high:.1f}]"
            cells.append(cell)
        body.append([env, descriptions.get(env, "") or "", str(units.get(env, MISSING)), *cells])
    return markdown_table(["test environment", "description", "test units", *trainers], body)


def severity_table(selected: pd.DataFrame, metric: str = "accuracy", benchmark: str | None = None) -> pd.DataFrame:
    """Tidy: ``selection, trainer, shift, level, env, mean, std, seeds`` for the test environments that have a
    ``shift`` and a numeric ``level`` (raw metric values; ``std`` over seeds with ``ddof=1``, ``nan`` for one seed).
    Empty when no environment has a severity level."""
    rows = _rows_of(selected, metric, benchmark)
    rows = rows[(rows["split"] == "test") & rows["shift"].notna() & rows["level"].notna()]
    columns = ["selection", "trainer", "shift", "level", "env", "mean", "std", "seeds"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    per = rows.groupby(["selection", "trainer", "shift", "level", "env", "seed"], sort=False)["value"].mean()
    out = per.groupby(level=[0, 1, 2, 3, 4], sort=False).agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"count": "seeds"})
    return out.sort_values(["selection", "trainer", "shift", "level"], kind="stable", key=_first_seen)[columns]


def _first_seen(column: pd.Series) -> pd.Series:
    """Sort key keeping strings in order of first appearance and numbers in numeric order."""
    if pd.api.types.is_numeric_dtype(column):
        return column
    order = {v: i for i, v in enumerate(dict.fromkeys(column))}
    return column.map(order)


def _severity_markdown(table: pd.DataFrame, metric: str) -> str:
    label = {rule: " = ".join(rules) for rules in shared_panels(table) for rule in rules}
    table = table[table["selection"].isin([rules[0] for rules in shared_panels(table)])]
    rows = [
        [
            label[r.selection],
            r.trainer,
            r.shift,
            f"{r.level:g}",
            r.env,
            _format(r.mean, r.std if r.seeds > 1 else None, metric),
            str(r.seeds),
        ]
        for r in table.itertuples(index=False)
    ]
    return markdown_table(["selection", "trainer", "shift", "level", "test environment", metric, "seeds"], rows)


def shared_panels(table: pd.DataFrame) -> list[list[str]]:
    """The selection rules of a :func:`severity_table`, grouped by the numbers their rows hold: rules that chose the
    same runs share one panel of the severity plot (in report order)."""
    panels: dict[tuple, list[str]] = {}
    for rule, part in table.groupby("selection", sort=False):
        rows = part.sort_values(["shift", "trainer", "level"])
        spread = rows["std"].fillna(-1.0).round(12)  # a single seed's NaN spread compares equal to another's
        columns = (rows["shift"], rows["trainer"], rows["level"], rows["mean"].round(12), spread)
        numbers = tuple(zip(*columns))
        panels.setdefault(numbers, []).append(rule)
    return list(panels.values())


def severity_figure(
    selected: pd.DataFrame,
    metric: str = "accuracy",
    benchmark: str | None = None,
    chance: float | None = None,
    axes_notes: Mapping[str, str] | None = None,
):
    """The matplotlib ``Figure`` of :func:`plot_severity` (for a caller that wants to add to it or look at it)."""
    import textwrap

    from matplotlib.figure import Figure  # no pyplot: no global figure state
    from matplotlib.lines import Line2D

    table = severity_table(selected, metric, benchmark)
    if table.empty:
        raise ReportError(f"no test environment with a shift and a numeric level among the {metric!r} rows")
    notes = axes_notes or {}
    shifts = list(dict.fromkeys(table["shift"]))
    groups = shared_panels(table)
    # one colour per trainer; past ten trainers the colours repeat with another marker, so no two lines look alike
    trainers = list(dict.fromkeys(table["trainer"]))
    colors = {t: f"C{k % 10}" for k, t in enumerate(trainers)}
    markers = {t: "os^DvPX*"[(k // 10) % 8] for k, t in enumerate(trainers)}
    # each trainer's in-distribution value (validation split) under each rule: the level a shift is measured from
    reference = per_seed(selected, metric, benchmark).groupby(["selection", "trainer"], sort=False)["in-distribution"]
    reference = reference.mean()
    width = 64  # characters of an x-small note under one 4-inch panel: wider would widen the first column
    extra = max(
        (len(textwrap.wrap(f"along {s}: {notes.get(s, '')}", width)) for s in shifts if notes.get(s)), default=0
    )
    fig = Figure(figsize=(4.0 * len(groups), (3.2 + 0.16 * extra) * len(shifts)), layout="constrained")
    axes = fig.subplots(len(shifts), len(groups), squeeze=False, sharey=True)
    scale = _scale(metric)
    for i, shift in enumerate(shifts):
        levels = table.loc[table["shift"] == shift, "level"]
        logarithmic = bool((levels > 0).all()) and levels.max() >= 100 * levels.min()
        for j, rules in enumerate(groups):
            ax = axes[i][j]
            panel = table[(table["shift"] == shift) & (table["selection"] == rules[0])]
            for trainer, line in panel.groupby("trainer", sort=False):
                line = line.sort_values("level")
                err = line["std"].fillna(0.0) * scale
                ax.errorbar(
                    line["level"],
                    line["mean"] * scale,
                    yerr=err,
                    marker=markers[trainer],
                    capsize=3,
                    label=trainer,
                    color=colors[trainer],
                )
                in_dist = reference.get((rules[0], trainer), np.nan)
                if np.isfinite(in_dist):
                    ax.axhline(in_dist * scale, color=colors[trainer], linestyle=":", linewidth=1.2, gid="in-dist")
            if metric == "accuracy":
                ax.set_ylim(0, 100)
                if chance is not None:
                    ax.axhline(100 * chance, color="grey", linestyle="--", linewidth=1, gid="chance")
            if logarithmic:
                ax.set_xscale("log")
            title = "\n".join(textwrap.wrap(" = ".join(rules), 48))
            ax.set_title(title, fontsize="medium" if len(rules) == 1 else "small")
            ax.set_xlabel(f"shift level ({shift})")
            ax.grid(alpha=0.3)
        if notes.get(shift):
            wrapped = "\n".join(textwrap.wrap(f"along {shift}: {notes[shift]}", width))
            axes[i][0].annotate(
                wrapped,
                xy=(0, 0),
                xycoords="axes fraction",
                xytext=(0, -34),
                textcoords="offset points",
                va="top",
                fontsize="x-small",
                annotation_clip=False,
            )
        axes[i][0].set_ylabel(f"{metric} (%)" if metric == "accuracy" else metric)
    handles, labels = axes[0][0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", linestyle=":", linewidth=1.2))
    labels.append("in-distribution (its colour)")
    if metric == "accuracy" and chance is not None:
        handles.append(Line2D([], [], color="grey", linestyle="--", linewidth=1))
        labels.append("chance")
    if len(trainers) > 6:  # a long legend goes beside the panels, not over the lines
        fig.legend(handles, labels, fontsize="small", loc="outside right upper")
    else:
        axes[0][0].legend(handles, labels, fontsize="small")
    return fig


def plot_severity(
    selected: pd.DataFrame,
    path,
    metric: str = "accuracy",
    benchmark: str | None = None,
    chance: float | None = None,
    axes_notes: Mapping[str, str] | None = None,
) -> Path:
    """Plot ``metric`` against shift level, one line per trainer with error bars (std over seeds), one panel per
    selection rule (and one row of panels per shift); written atomically to ``path`` (PNG). Returns ``path``.

    Rules whose panels hold the same numbers (they chose the same runs) share one panel, titled with all their
    names. Each trainer's in-distribution value (its validation split, under that rule) is a dotted line in its
    colour: the level a shift's losses are counted from. Accuracy is drawn on a fixed 0-100 % axis with the
    ``chance`` level (a fraction, e.g. ``1 / n_classes``) as a dashed line, so that panels and reports compare by
    eye; a shift whose levels are positive and span two decades or more (a dose sweep) gets a logarithmic level
    axis. ``axes_notes[shift]`` (e.g. ``EnvironmentInfo.axis``: what moves along a severity axis, and which way) is
    printed under that shift's panels."""
    fig = severity_figure(selected, metric, benchmark, chance, axes_notes)
    return write_atomic(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def _chance(sweep: Sweep, benchmark: str) -> float | None:
    """``1 / n_classes`` of a classification benchmark's runs (``run.json``), else ``None``."""
    runs = sweep.runs[sweep.runs["benchmark"] == benchmark]
    if "n_classes" not in runs or runs["n_classes"].isna().all():
        return None
    return 1.0 / max(int(runs["n_classes"].dropna().iloc[0]), 1)


def _default_metric(sweep: Sweep, benchmark: str) -> str:
    return selection_metric(sweep.runs.loc[sweep.runs["benchmark"] == benchmark, "task"].iloc[0])


def _agreement_lines(selected: pd.DataFrame, rules: Sequence[Rule]) -> list[str]:
    names = [r.name for r in rules]
    test = selected[selected["split"] == "test"]
    by_rule = {n: test[test["selection"] == n] for n in names}
    pairs = {n: set(zip(t["group"], t["env"])) for n, t in by_rule.items()}
    lines = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            share, n = agreement(selected, a, b), len(pairs[a] & pairs[b])
            if n:
                lines.append(f"- {a} vs {b}: same run in {100 * share:.1f} % of {n} (group, test environment) pairs")
            else:
                lines.append(f"- {a} vs {b}: no (group, test environment) pair chosen by both")
    return lines


def write_report(sweep_dir, out_dir=None, rules: Sequence[Rule] = ALL, metric: str | None = None) -> dict[str, Path]:
    """Select with ``rules`` and write, atomically into ``out_dir`` (default: the sweep directory):

    - ``report.md``: per benchmark the summary, per-environment and severity tables, then the agreement between
      rules, the notes on groups a rule could not decide, and the unfinished runs;
    - ``results_selected.csv``: the selected tidy rows;
    - ``severity.png`` (``severity_<benchmark>.png`` when several benchmarks have one), when a test environment
      has a shift with a numeric level.

    ``metric`` defaults to accuracy (classification) or RMSE (regression). Returns ``{name: path}`` of the files.
    """
    sweep = load_sweep(sweep_dir)
    known = sorted(set(sweep.rows["metric"]) - {"seconds"})
    if metric is not None and metric not in known:
        raise SweepError(f"unknown metric {metric!r}: the runs of {sweep.path} have {known}")
    out = Path(out_dir) if out_dir is not None else sweep.path
    choices, notes = choose(sweep, rules)
    selected = selected_rows(sweep, choices)
    info = sweep.environment_info()
    descriptions = {env: i.get("description", "") for env, i in info.items()}
    units = {env: i["units"]["test"] for env, i in info.items() if "test" in (i.get("units") or {})}
    benchmarks = list(dict.fromkeys(sweep.runs["benchmark"]))
    lines = [f"# Sweep report: {sweep.path}", ""]
    lines.append(
        f"{len(sweep.runs)} finished run(s), {len(sweep.unfinished)} unfinished, {len(sweep.damaged)} damaged (left "
        "out); selection rules: " + ", ".join(r.name for r in rules) + "."
    )
    written: dict[str, Path] = {}
    for benchmark in benchmarks:
        m = metric or _default_metric(sweep, benchmark)
        lines += ["", f"## {benchmark}", ""]
        rows = selected[(selected["benchmark"] == benchmark) & (selected["metric"] == m)]
        if rows.empty:
            lines.append(f"No selected rows of metric {m!r}.")
            continue
        lines += [f"### Summary ({m}, by selection rule)", "", summary_table(selected, m, benchmark), ""]
        lines += [
            "Cells: the mean over seeds ± their standard deviation (ddof 1; a spread of the runs, not a standard "
            "error of the mean); a cell without ± is one run. The OOD gap is the loss from in-distribution to the "
            "mean over the benchmark's own test environments (not the shifts': adding a shift does not move it; "
            "positive = worse, for every metric). Units per test environment and one run's binomial interval: the "
            "table below.",
            "",
        ]
        if (rows["selection"] == DEFAULT_RULE).any():
            lines += [f"### Per test environment ({m}, {DEFAULT_RULE})", ""]
            lines += [per_environment_table(selected, descriptions, DEFAULT_RULE, m, benchmark, units), ""]
        severity = severity_table(selected, m, benchmark)
        if not severity.empty:
            name = "severity.png" if len(benchmarks) == 1 else f"severity_{benchmark}.png"
            axes_notes = {i["shift"]: i["axis"] for i in info.values() if i.get("shift") and i.get("axis")}
            written[name.removesuffix(".png")] = plot_severity(
                selected, out / name, m, benchmark, _chance(sweep, benchmark), axes_notes
            )
            lines += [f"### Severity ({m} against shift level; plot: {name})", "", _severity_markdown(severity, m), ""]
            shown = set(severity["shift"])
            lines += [f"- along {k}: {v}" for k, v in axes_notes.items() if k in shown]
            lines += [""] if any(k in shown for k in axes_notes) else []
    lines += ["", "## Agreement between selection rules", ""]
    per_group = candidates(sweep).groupby("group").size()
    compared = selected
    if len(per_group) and per_group.max() == 1:
        lines.append(
            "- every group has a single candidate run (no hyper-parameter search: add hparams_seed=0,1,...), so "
            "every rule picks the same run and the agreement below says nothing"
        )
    else:  # groups with a single candidate agree trivially: count only the groups where a rule had a choice
        several = per_group[per_group > 1].index
        lines.append(
            f"- candidate runs per group: {per_group.min()}-{per_group.max()}; agreement over the {len(several)} "
            "group(s) with more than one candidate"
        )
        compared = selected[selected["group"].isin(several)]
    lines += _agreement_lines(compared, rules) or ["- (one rule)"]
    lines += ["", "## Selection notes", "", *([f"- {n}" for n in notes] or ["- none"])]
    lines += ["", "## Unfinished runs", "", *([f"- {u}" for u in sweep.unfinished] or ["- none"]), ""]
    if sweep.damaged:
        damaged = [f"- {name}: {why}" for name, why in sweep.damaged.items()]
        lines += ["## Damaged runs (left out of every table)", "", *damaged, ""]
    text = "\n".join(lines)
    written["results"] = write_atomic(out / "results_selected.csv", lambda tmp: selected.to_csv(tmp, index=False))
    written["report"] = write_atomic(out / "report.md", lambda tmp: Path(tmp).write_text(text))
    return written
