"""Reading a sweep directory back: the runs, their tidy result rows and their environments.

A sweep directory holds one sub-directory per run (dot-directories such as ``.cache`` are ignored). A run
directory holds ``run.json`` (what the run was: trainer, seed, hyper-parameter draw, environments, ...) and, once
the run has finished, ``results.csv`` — tidy rows ``run, trainer, env, split, metric, value, selection`` written
atomically last. So a run is finished iff its ``results.csv`` exists; the others are listed as unfinished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from causalphys.errors import CausalPhysError
from causalphys.evaluation.store import damage

RESULT_COLUMNS = ("run", "trainer", "env", "split", "metric", "value", "selection")
"""The columns of a run's ``results.csv`` (and of every tidy results table)."""

ACTIVE_COLUMNS = ("round", "labelled", "candidate")
"""The extra columns of an experiment loop's rows (``causalphys active=...``): kept when present."""

JOINED_COLUMNS = ("seed", "hparams_seed", "group", "holdout", "benchmark")
"""The ``run.json`` fields joined onto every result row by :func:`load_sweep`."""

REQUIRED_FIELDS = ("run", "group", "benchmark", "trainer", "seed", "task")


class SweepError(CausalPhysError, ValueError):
    """A sweep directory cannot be read: not a directory, no finished run, or a malformed run directory."""


@dataclass
class Sweep:
    """The finished runs of one sweep directory.

    - ``path``: the sweep directory.
    - ``runs``: one row per finished run: the scalar fields of its ``run.json`` (``run``, ``hash``, ``group``,
      ``benchmark``, ``trainer``, ``seed``, ``hparams_seed``, ``holdout``, ``task``, ``seconds``, ...) and ``path``
      (the run directory). ``hparams_seed`` is a nullable integer; ``holdout`` is ``None`` for full-training runs.
    - ``rows``: every ``results.csv`` row concatenated, with :data:`JOINED_COLUMNS` joined from ``run.json``.
    - ``environments``: ``environments[run][env]`` is the run's ``{"role", "shift", "level", "description"}``.
    - ``unfinished``: the names of run directories without ``results.csv``.
    - ``damaged``: ``{run directory name: what is wrong}`` for run directories whose files cannot be trusted (an
      unreadable or malformed ``run.json``/``results.csv``, results that do not match the digest ``run.json``
      recorded): left out of ``runs`` and ``rows``, so one damaged run does not block the report of the others.
    """

    path: Path
    runs: pd.DataFrame
    rows: pd.DataFrame
    environments: dict[str, dict[str, dict]] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)

    def environment_info(self) -> dict[str, dict]:
        """``env -> info`` over all runs (the first run that describes an environment wins; a field it leaves empty
        is filled from a later run)."""
        merged: dict[str, dict] = {}
        for envs in self.environments.values():
            for env, info in envs.items():
                known = merged.setdefault(env, dict(info))
                for key, value in info.items():  # a field older runs lack (e.g. "axis") is taken from a newer one
                    if value not in (None, "", {}) and known.get(key) in (None, "", {}):
                        known[key] = value
        return merged


def _read_run_json(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SweepError(f"cannot read run description {path}: {err}") from err
    if not isinstance(meta, dict):
        raise SweepError(f"{path} must hold a JSON object, got {type(meta).__name__}")
    missing = [k for k in REQUIRED_FIELDS if k not in meta]
    if missing:
        raise SweepError(f"{path} lacks the field(s) {missing}")
    envs = meta.get("environments", {})
    if not isinstance(envs, dict) or not all(isinstance(v, dict) for v in envs.values()):
        raise SweepError(f"{path}: 'environments' must map environment names to objects")
    return meta


def _read_results(path: Path, run: str) -> pd.DataFrame:
    try:
        rows = pd.read_csv(path, dtype={"run": str, "env": str, "split": str, "metric": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise SweepError(f"cannot read results {path}: {err}") from err
    missing = [c for c in RESULT_COLUMNS if c not in rows.columns]
    if missing:
        raise SweepError(f"{path} lacks the column(s) {missing}; expected {list(RESULT_COLUMNS)}")
    others = sorted(set(rows["run"]) - {run})
    if others:
        raise SweepError(f"{path} holds rows of run(s) {others}, but its run.json names the run {run!r}")
    rows["value"] = pd.to_numeric(rows["value"], errors="coerce")
    return rows[[*RESULT_COLUMNS, *(c for c in ACTIVE_COLUMNS if c in rows.columns)]]


def _read_run(run_dir: Path, results: Path) -> tuple[dict, pd.DataFrame]:
    """A finished run directory's ``run.json`` and rows; :class:`SweepError` saying what is wrong otherwise."""
    meta_path = run_dir / "run.json"
    if not meta_path.is_file():
        raise SweepError(f"run directory {run_dir} has results.csv but no run.json")
    meta = _read_run_json(meta_path)
    wrong = damage(meta, results)
    if wrong:
        raise SweepError(f"{results}: {wrong}")
    return meta, _read_results(results, str(meta["run"]))


def _run_record(meta: dict, run_dir: Path) -> dict:
    record = {k: v for k, v in meta.items() if not isinstance(v, (dict, list))}
    record.setdefault("hparams_seed", None)
    record.setdefault("holdout", None)
    record["path"] = str(run_dir)
    return record


def load_sweep(path) -> Sweep:
    """Read every run directory of the sweep directory ``path`` (see the module docstring for the layout).

    Raises :class:`SweepError` when ``path`` is not a directory, holds no finished run (no ``<run>/results.csv``),
    or a run directory is malformed (unreadable ``run.json``/``results.csv``, a duplicate run id).
    """
    root = Path(path)
    if not root.is_dir():
        raise SweepError(f"sweep path {root} is not a directory; expected a directory with one folder per run")
    records, tables, environments, unfinished, damaged = [], [], {}, [], {}
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        results = run_dir / "results.csv"
        if not results.is_file():
            unfinished.append(run_dir.name)
            continue
        try:
            meta, table = _read_run(run_dir, results)
        except SweepError as err:
            damaged[run_dir.name] = str(err)
            continue
        run = str(meta["run"])
        if run in environments:
            damaged[run_dir.name] = f"run id {run!r} appears twice in {root}"
            continue
        environments[run] = {env: dict(info) for env, info in meta.get("environments", {}).items()}
        records.append(_run_record(meta, run_dir))
        tables.append(table)
    if not records:
        raise SweepError(
            f"sweep directory {root} holds no finished run: expected sub-directories with run.json and results.csv"
            + (f" (unfinished: {unfinished})" if unfinished else "")
            + (f" (damaged: {damaged})" if damaged else "")
        )
    runs = pd.DataFrame.from_records(records)
    runs["run"] = runs["run"].astype(str)
    runs["seed"] = runs["seed"].astype("Int64")
    runs["hparams_seed"] = pd.array(runs["hparams_seed"].tolist(), dtype="Int64")
    runs["holdout"] = runs["holdout"].astype(object).where(runs["holdout"].notna(), None)
    rows = pd.concat(tables, ignore_index=True)
    rows = rows.merge(runs[["run", *JOINED_COLUMNS]], on="run", how="left", validate="many_to_one")
    return Sweep(path=root, runs=runs, rows=rows, environments=environments, unfinished=unfinished, damaged=damaged)
