"""The resumable study: a finished cell is never computed again, and an interrupted write leaves the file as it was."""

import csv
import os

import pytest

from causalphys.evaluation.store import StoreError
from causalphys.evaluation.study import Study

KEY = ("trainer", "run")


def rows_of(trainer: str, seed: int, value: float = 0.5) -> list[dict]:
    base = {"run": f"seed{seed}", "trainer": trainer, "env": "test", "split": "test", "selection": "final-step"}
    return [{**base, "metric": "accuracy", "value": value}, {**base, "metric": "seconds", "value": 1.0}]


def test_a_resumed_study_computes_only_the_cells_it_lacks(tmp_path):
    path, calls = tmp_path / "results.csv", []

    def compute(trainer, seed):
        calls.append((trainer, seed))
        return rows_of(trainer, seed)

    first = Study(path, KEY)
    for seed in (0, 1):
        assert first.run(("erm", f"seed{seed}"), compute, "erm", seed) == rows_of("erm", seed)
    before = path.read_text()
    again = Study(path, KEY)  # a new process: the file is all it knows
    assert again.done(("erm", "seed0")) and not again.done(("irm", "seed0"))
    for seed in (0, 1):
        for trainer in ("erm", "irm"):
            again.run((trainer, f"seed{seed}"), compute, trainer, seed)
    assert calls == [("erm", 0), ("erm", 1), ("irm", 0), ("irm", 1)]  # each cell once
    assert path.read_text().startswith(before)  # the finished rows are kept as they were, new rows after them
    rows = list(csv.DictReader(open(path)))
    assert rows == [{k: str(v) for k, v in r.items()} for r in again.rows]
    assert [(r["trainer"], r["run"]) for r in rows[::2]] == [("erm", "seed0"), ("erm", "seed1"), ("irm", "seed0"),
                                                              ("irm", "seed1")]  # fmt: skip


def test_a_cell_is_finished_only_by_its_marking_row_when_asked(tmp_path):
    path = tmp_path / "results.csv"
    Study(path, KEY).record(("erm", "seed0"), rows_of("erm", 0)[:1])  # no "seconds" row: cut short
    study = Study(path, KEY, finished=lambda row: row["metric"] == "seconds")
    assert not study.done(("erm", "seed0"))
    study.run(("erm", "seed0"), rows_of, "erm", 0)
    assert study.done(("erm", "seed0")) and Study(path, KEY, finished=study.finished).done(("erm", "seed0"))


def test_an_interrupted_write_leaves_the_previous_file_and_no_partial_one(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    study = Study(path, KEY)
    study.run(("erm", "seed0"), rows_of, "erm", 0)
    before = path.read_text()

    def killed(fd):
        raise KeyboardInterrupt  # the process is stopped while the new file is being written

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        study.run(("irm", "seed0"), rows_of, "irm", 0)
    monkeypatch.undo()
    assert path.read_text() == before and os.listdir(tmp_path) == ["results.csv"]  # no temporary file left
    assert not study.done(("irm", "seed0")) and len(study.rows) == 2  # nor rows that were not written
    resumed = Study(path, KEY)
    assert resumed.run(("irm", "seed0"), rows_of, "irm", 0) is not None


def test_rows_must_carry_their_cell_and_every_column(tmp_path):
    study = Study(tmp_path / "results.csv", KEY)
    with pytest.raises(StoreError, match="another cell"):
        study.run(("erm", "seed0"), rows_of, "erm", 1)
    with pytest.raises(StoreError, match="lacks column"):
        study.run(("erm", "seed0"), list, [{"trainer": "erm", "run": "seed0"}])
    assert not (tmp_path / "results.csv").exists() and study.rows == []
    with pytest.raises(StoreError, match="key must name"):
        Study(tmp_path / "results.csv", ("seed",))
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(StoreError, match="no column"):
        Study(tmp_path / "other.csv", KEY)
