"""Model selection: which hyper-parameter draw of a group is reported (DomainBed's rules, plus a counterfactual one).

A *group* is everything of a run except its hyper-parameter draw (trainer, seed, benchmark, ...); its
*candidates* are its full-training runs (``holdout`` null), one per ``hparams_seed``. A rule picks one candidate
per group — or, for the oracle, one per (group, test environment) — and every reported OOD number carries the name
of the rule that chose it. With ``y`` the selection metric (accuracy; RMSE for regression; column F1 for a dense
column task):

- training-domain validation: ``argmax_h mean_{e in train} acc_val(h, e)`` (regression: ``argmin`` of val RMSE);
- test-domain (oracle): per test environment ``t``, ``argmax_h acc_test_val(h, t)`` — it peeks at a labelled 20 %
  of ``t`` (the ``test_val`` split), so it is an upper bound, not a usable rule;
- leave-one-environment-out: ``argmax_h mean_{e in train} acc_holdout(h, e)``, where ``acc_holdout(h, e)`` comes
  from the run of draw ``h`` trained without ``e``; the full-training run of the winning draw is reported;
- counterfactual: among ``{h : mean_e acc_val(h, e) > chance + margin}``, ``argmin_h mean_e flip(h, e)``, with
  ``flip`` the fraction of validation units whose predicted class changes under a counterfactual intervention on
  the instrument (ties: higher validation accuracy). It uses no test label. Regression: ``argmin`` of ``cf_change``
  among draws with validation ``R² > margin``.

Remaining ties go to the lowest ``hparams_seed``, then the lowest run id, so a choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from causalphys.errors import CausalPhysError
from causalphys.evaluation.metrics import selection_metric
from causalphys.evaluation.sweep import RESULT_COLUMNS, Sweep

HIGHER_IS_BETTER = frozenset({"accuracy", "r2", "column_precision", "column_recall", "column_f1"})
"""Metrics where larger is better; every other metric (rmse, nll, ece, cf_flip_rate, ...) is better when smaller."""

CHOICE_COLUMNS = ("selection", "group", "env", "run")
SELECTED_COLUMNS = (*RESULT_COLUMNS, "seed", "hparams_seed", "group", "benchmark", "shift", "level")


class SelectionError(CausalPhysError, ValueError):
    """A selection rule or its input is unusable (an unknown rule name, ...)."""


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (accuracy, R²) rather than worse (RMSE, NLL, ECE, ...)."""
    return metric in HIGHER_IS_BETTER


def candidates(sweep: Sweep) -> pd.DataFrame:
    """The full-training runs (``holdout`` null), sorted by group, ``hparams_seed`` and run id."""
    runs = sweep.runs[sweep.runs["holdout"].isna()]
    return runs.sort_values(["group", "hparams_seed", "run"], na_position="last", kind="stable")


def _task(runs: pd.DataFrame) -> str:
    return str(runs["task"].iloc[0])


def _mean(sweep: Sweep, runs: Iterable[str], split: str, metric: str, env: str | None = None) -> pd.Series:
    """``run -> mean value`` of ``metric`` on ``split`` (over environments, or on ``env`` only); runs without rows
    are absent."""
    rows = sweep.rows
    mask = rows["run"].isin(list(runs)) & (rows["split"] == split) & (rows["metric"] == metric)
    if env is not None:
        mask &= rows["env"] == env
    return rows[mask].groupby("run", sort=False)["value"].mean()


def _best(table: pd.DataFrame, keys: Sequence[tuple[str, bool]]) -> str:
    """The run id of the best row of ``table`` (columns ``run``, ``hparams_seed`` and the score columns), ordered by
    ``keys`` ``(column, ascending)``, then lowest ``hparams_seed``, then lowest run id."""
    cols = [k for k, _ in keys] + ["hparams_seed", "run"]
    order = [asc for _, asc in keys] + [True, True]
    return str(table.sort_values(cols, ascending=order, na_position="last", kind="stable")["run"].iloc[0])


def _test_envs(sweep: Sweep, run: str, split: str = "test") -> list[str]:
    rows = sweep.rows
    return list(dict.fromkeys(rows.loc[(rows["run"] == run) & (rows["split"] == split), "env"]))


class Rule:
    """A model-selection rule: :meth:`choose` returns ``(choices, notes)`` — tidy choices with columns
    :data:`CHOICE_COLUMNS` (one row per group and test environment) and readable notes on groups it skipped."""

    name: ClassVar[str] = "rule"

    def choose(self, sweep: Sweep) -> tuple[pd.DataFrame, list[str]]:
        choices, notes = [], []
        for group, cands in candidates(sweep).groupby("group", sort=False):
            run, note = self.choose_group(sweep, cands)
            if note:
                notes.append(f"{self.name}: no choice for group {group}: {note}")
            if run is not None:
                choices += [(self.name, group, env, run) for env in _test_envs(sweep, run)]
        return pd.DataFrame(choices, columns=list(CHOICE_COLUMNS)), notes

    def choose_group(self, sweep: Sweep, cands: pd.DataFrame) -> tuple[str | None, str | None]:
        """The chosen run id of one group's candidates (or ``None``) and a note saying why none was chosen."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _val_metric(task: str) -> str:
    return selection_metric(task)


@dataclass(frozen=True, repr=False)
class TrainingDomainValidation(Rule):
    """Highest mean validation accuracy over the training environments (regression: lowest mean validation RMSE)."""

    name: ClassVar[str] = "training-domain validation"

    def choose_group(self, sweep, cands):
        metric = _val_metric(_task(cands))
        score = _mean(sweep, cands["run"], "val", metric)
        if score.empty:
            return None, f"no candidate has val {metric} rows"
        table = cands.assign(score=cands["run"].map(score)).dropna(subset=["score"])
        return _best(table, [("score", not higher_is_better(metric))]), None


@dataclass(frozen=True, repr=False)
class TestDomainOracle(Rule):
    """Per test environment, the highest accuracy on that environment's ``test_val`` split (20 % of the test
    environment kept for this rule); the chosen run's ``test`` rows of that environment are reported."""

    name: ClassVar[str] = "test-domain (oracle)"
    __test__: ClassVar[bool] = False  # not a pytest test class, despite its name

    def choose(self, sweep):
        choices, notes = [], []
        for group, cands in candidates(sweep).groupby("group", sort=False):
            metric = _val_metric(_task(cands))
            envs = list(dict.fromkeys(e for run in cands["run"] for e in _test_envs(sweep, run, "test_val")))
            if not envs:
                notes.append(f"{self.name}: no choice for group {group}: no test_val {metric} rows")
            for env in envs:
                score = _mean(sweep, cands["run"], "test_val", metric, env=env)
                table = cands.assign(score=cands["run"].map(score)).dropna(subset=["score"])
                if table.empty:
                    continue
                choices.append((self.name, group, env, _best(table, [("score", not higher_is_better(metric))])))
        return pd.DataFrame(choices, columns=list(CHOICE_COLUMNS)), notes


def _key(value) -> int | None:
    return None if pd.isna(value) else int(value)


@dataclass(frozen=True, repr=False)
class LeaveOneEnvironmentOut(Rule):
    """Mean over training environments ``e`` of the ``holdout`` accuracy of the run of the same draw that was
    trained without ``e``; the winning draw's full-training run is reported. A group lacking any of the needed
    holdout results gets no choice (and a note)."""

    name: ClassVar[str] = "leave-one-environment-out"

    def choose_group(self, sweep, cands):
        metric = _val_metric(_task(cands))
        group = cands["group"].iloc[0]
        runs = sweep.runs
        held = runs[(runs["group"] == group) & runs["holdout"].notna()]
        first = str(cands["run"].iloc[0])
        info = sweep.environments.get(first, {})
        envs = [e for e, i in info.items() if i.get("role") == "train"] or _test_envs(sweep, first, "val")
        scores, missing = {}, []
        for run, h in zip(cands["run"], cands["hparams_seed"]):
            values = []
            for env in envs:
                match = held[held["hparams_seed"].map(lambda v, h=h: _key(v) == _key(h)) & (held["holdout"] == env)]
                score = _mean(sweep, match["run"], "holdout", metric, env=env)
                if score.empty:
                    missing.append(f"hparams_seed={_key(h)}/{env}")
                else:
                    values.append(float(score.iloc[0]))
            scores[run] = float(np.mean(values)) if values else np.nan
        if missing:
            return None, f"missing holdout {metric} result(s) {missing}"
        table = cands.assign(score=cands["run"].map(scores))
        return _best(table, [("score", not higher_is_better(metric))]), None


@dataclass(frozen=True)
class Counterfactual(Rule):
    """Lowest mean counterfactual flip rate (``cf_flip_rate``, validation split, training environments) among the
    candidates whose mean validation accuracy exceeds ``chance + margin``; ties go to higher validation accuracy.

    ``chance`` defaults to ``1 / n_classes`` when ``run.json`` records ``n_classes`` (or ``n_outputs``), else
    ``0.5`` (binary labels). Regression: lowest ``cf_change`` among candidates with mean validation ``R² > margin``.
    """

    name: ClassVar[str] = "counterfactual"
    margin: float = 0.05
    chance: float | None = None

    def _chance(self, cands: pd.DataFrame) -> float:
        if self.chance is not None:
            return float(self.chance)
        for column in ("n_classes", "n_outputs"):
            if column in cands and cands[column].notna().any():
                return 1.0 / max(int(cands[column].dropna().iloc[0]), 2)
        return 0.5

    def choose_group(self, sweep, cands):
        if _task(cands) == "classification":
            quality, flip, threshold = "accuracy", "cf_flip_rate", self._chance(cands) + self.margin
        else:
            quality, flip, threshold = "r2", "cf_change", self.margin
        flips = _mean(sweep, cands["run"], "val", flip)
        if flips.empty:
            return None, f"no candidate has {flip} rows"
        table = cands.assign(
            flip=cands["run"].map(flips), quality=cands["run"].map(_mean(sweep, cands["run"], "val", quality))
        )
        table = table[table["quality"] > threshold].dropna(subset=["flip"])
        if table.empty:
            return None, f"no candidate with {flip} rows has mean val {quality} above {threshold:.3g}"
        return _best(table, [("flip", True), ("quality", False)]), None


ALL: tuple[Rule, ...] = (TrainingDomainValidation(), TestDomainOracle(), LeaveOneEnvironmentOut(), Counterfactual())
"""The rules :func:`select` applies by default, in report order."""


def rule_named(name: str, rules: Sequence[Rule] = ALL) -> Rule:
    """The rule of ``rules`` called ``name``."""
    for rule in rules:
        if rule.name == name:
            return rule
    raise SelectionError(f"unknown selection rule {name!r}; known rules: {[r.name for r in rules]}")


def choose(sweep: Sweep, rules: Sequence[Rule] = ALL) -> tuple[pd.DataFrame, list[str]]:
    """Every rule's choices (columns :data:`CHOICE_COLUMNS`) and notes on the groups a rule could not decide."""
    tables, notes = [], []
    for rule in rules:
        table, rule_notes = rule.choose(sweep)
        tables.append(table)
        notes += rule_notes
    tables = [t for t in tables if not t.empty]
    empty = pd.DataFrame(columns=list(CHOICE_COLUMNS))
    return (pd.concat(tables, ignore_index=True) if tables else empty), notes


def _env_field(sweep: Sweep, runs: pd.Series, envs: pd.Series, key: str) -> list:
    return [sweep.environments.get(r, {}).get(e, {}).get(key) for r, e in zip(runs, envs)]


def selected_rows(sweep: Sweep, choices: pd.DataFrame) -> pd.DataFrame:
    """The tidy rows (columns :data:`SELECTED_COLUMNS`) of chosen runs: for each choice ``(group, env, run)`` the
    run's ``test`` rows of ``env`` (every metric), and each chosen run's ``val`` rows once, ``selection`` set to the
    rule's name. ``shift``/``level`` come from the run's environment info (null where it has none)."""
    rows, parts = sweep.rows, []
    for name, chosen in choices.groupby("selection", sort=False):
        pairs = set(zip(chosen["run"], chosen["env"]))
        chosen_env = np.array([(run, env) in pairs for run, env in zip(rows["run"], rows["env"])], dtype=bool)
        test = rows[(rows["split"] == "test") & chosen_env]
        val = rows[(rows["split"] == "val") & rows["run"].isin(set(chosen["run"]))]
        parts.append(pd.concat([test, val]).sort_index(kind="stable").assign(selection=name))
    if not parts:
        return pd.DataFrame(columns=list(SELECTED_COLUMNS))
    out = pd.concat(parts, ignore_index=True)
    out["shift"] = _env_field(sweep, out["run"], out["env"], "shift")
    out["level"] = pd.to_numeric(
        pd.Series(_env_field(sweep, out["run"], out["env"], "level"), dtype=object), errors="coerce"
    )
    return out[list(SELECTED_COLUMNS)]


def select(sweep: Sweep, rules: Sequence[Rule] = ALL) -> pd.DataFrame:
    """The rows each rule reports (see :func:`selected_rows`); use :func:`choose` for the notes on skipped groups."""
    return selected_rows(sweep, choose(sweep, rules)[0])


def agreement(selected: pd.DataFrame, rule_a: str, rule_b: str) -> float:
    """Fraction of the (group, test environment) pairs chosen by both rules where they chose the same run;
    ``nan`` when no pair was chosen by both. ``selected`` is :func:`select`'s table."""
    known = set(selected["selection"]) | {r.name for r in ALL}
    for name in (rule_a, rule_b):
        if name not in known:
            raise SelectionError(f"unknown selection rule {name!r}; known rules: {sorted(known)}")
    test = selected[selected["split"] == "test"]

    def picks(name: str) -> dict:
        t = test[test["selection"] == name]
        return dict(zip(zip(t["group"], t["env"]), t["run"]))

    a, b = picks(rule_a), picks(rule_b)
    common = a.keys() & b.keys()
    if not common:
        return float("nan")
    return sum(a[k] == b[k] for k in common) / len(common)
