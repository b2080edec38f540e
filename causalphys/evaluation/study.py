"""A resumable study: named cells (a method and a seed, a setting and a reader, ...) computed once each, their tidy
rows kept in one CSV file that is rewritten atomically after every cell, so that an interrupted study resumes where
it stopped and a finished one reruns nothing.

A cell is named by the values of its rows' ``key`` columns (e.g. ``("trainer", "run")`` → ``("irm", "seed3")``):
every row a cell computes carries them, and the cell is finished once the file holds its rows (or, with
``finished``, a row that marks its end). The file is the study's only state: a cell is finished exactly when its
rows are in the file, since the file is replaced whole (:func:`causalphys.atomic.write_text`) or not at all.

    study = Study(out / "results.csv", key=("trainer", "run"))
    for seed in range(seeds):
        for method in methods:
            study.run((method, f"seed{seed}"), train_and_score, method, seed)
    write_table(study.rows)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from causalphys.atomic import write_text
from causalphys.evaluation.store import FIELDS, StoreError, rows_to_csv


class Study:
    """The rows of a study in the CSV file ``path`` (columns ``fields``, the tidy result columns by default), by
    cell: a cell is the tuple of the values of its rows' ``key`` columns.

    ``rows`` holds every row, the file's first (as read: strings) then those computed since, in order. A cell is
    finished if ``rows`` holds one of its rows, or with ``finished`` one of its rows for which ``finished(row)`` is
    true (e.g. the timing row a cell writes last).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        key: Sequence[str],
        fields: Sequence[str] = FIELDS,
        finished: Callable[[Mapping[str, object]], bool] | None = None,
    ):
        self.path = Path(path)
        self.key = tuple(key)
        self.fields = tuple(fields)
        self.finished = finished
        unknown = [k for k in self.key if k not in self.fields]
        if not self.key or unknown:
            raise StoreError(f"a study's key must name some of its columns {list(self.fields)}, got {list(key)}")
        self.rows: list[dict] = self._read()
        self._done = {self._cell(row) for row in self.rows if self._ends_cell(row)}

    def _read(self) -> list[dict]:
        """The rows already in the file (``[]`` if there is none); :class:`StoreError` if it lacks a key column."""
        if not self.path.exists():
            return []
        with open(self.path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [k for k in self.key if k not in (reader.fieldnames or ())]
            if missing:
                raise StoreError(f"{self.path} has no column(s) {missing}: not the results of this study")
            return list(reader)

    def _cell(self, row: Mapping[str, object]) -> tuple[str, ...]:
        return tuple(str(row[k]) for k in self.key)

    def _ends_cell(self, row: Mapping[str, object]) -> bool:
        return self.finished is None or bool(self.finished(row))

    def done(self, cell: Sequence[object]) -> bool:
        """Whether the cell (its key values, in the order of ``key``) is finished."""
        return tuple(str(v) for v in cell) in self._done

    def record(self, cell: Sequence[object], rows: list[dict]) -> list[dict]:
        """Add the computed ``rows`` of ``cell`` and rewrite the file with every row, atomically; returns ``rows``.
        :class:`StoreError` (and nothing written) if a row lacks a column or belongs to another cell."""
        cell = tuple(str(v) for v in cell)
        text = rows_to_csv(self.rows + rows, self.fields)
        strays = [row for row in rows if self._cell(row) != cell]
        if strays:
            raise StoreError(f"rows of cell {cell} (key {list(self.key)}) include a row of another cell: {strays[0]}")
        write_text(self.path, text)
        self.rows += rows
        if any(self._ends_cell(row) for row in rows):
            self._done.add(cell)
        return rows

    def run(self, cell: Sequence[object], compute: Callable[..., list[dict]], *args, **kwargs) -> list[dict] | None:
        """The new rows of ``cell``: ``compute(*args, **kwargs)``, recorded (:meth:`record`), unless the cell is
        finished (then ``None``, and ``compute`` is not called)."""
        if self.done(cell):
            return None
        return self.record(cell, compute(*args, **kwargs))
