"""Model selection on a fixed fake sweep whose numbers make every rule's choice known in advance.

The fake sweep (see :func:`make_sweep`): trainers erm and irm, seeds 0 and 1, hparams_seeds 0 and 1, training
environments e0/e1, test environments dose_0/dose_1 (shift "dose", levels 0.0 and 1.0). Draw 0 has the higher
validation accuracy, draw 1 the higher test accuracy and the lower counterfactual flip rate; seed 1 lowers every
test number by 0.1. Group erm-s0 also has a full set of leave-one-out runs, where draw 1 wins (0.7 vs 0.6).
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from causalphys.errors import CausalPhysError
from causalphys.evaluation.selection import (
    ALL,
    Counterfactual,
    SelectionError,
    TrainingDomainValidation,
    agreement,
    choose,
    rule_named,
    select,
)
from causalphys.evaluation.sweep import RESULT_COLUMNS, SweepError, load_sweep

TRAIN, TEST = ("e0", "e1"), ("dose_0", "dose_1")
# trainer -> hparams_seed -> (val accuracy per training env, test accuracy per test env, cf flip rate)
VALUES = {
    "erm": {0: ((0.90, 0.80), (0.70, 0.50), 0.30), 1: ((0.80, 0.70), (0.80, 0.60), 0.10)},
    "irm": {0: ((0.85, 0.75), (0.75, 0.65), 0.20), 1: ((0.75, 0.65), (0.80, 0.75), 0.05)},
}
HOLDOUT = {0: 0.60, 1: 0.70}  # leave-one-out accuracy of each draw in group erm-s0
ENVIRONMENTS = {
    "e0": {"role": "train", "shift": None, "level": None, "description": "lab A"},
    "e1": {"role": "train", "shift": None, "level": None, "description": "lab B"},
    "dose_0": {"role": "test", "shift": "dose", "level": 0.0, "description": "full dose"},
    "dose_1": {"role": "test", "shift": "dose", "level": 1.0, "description": "low dose"},
}
TDV, ORACLE, LOO, CF = (r.name for r in ALL)


def write_run(root, meta: dict, rows: list[tuple], finished: bool = True) -> None:
    """One run directory: ``run.json`` from ``meta`` and (if ``finished``) ``results.csv`` from
    ``rows`` ``(env, split, metric, value)``."""
    run_dir = root / meta["run"]
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps(meta))
    if finished:
        table = pd.DataFrame(rows, columns=["env", "split", "metric", "value"])
        table.insert(0, "trainer", meta["trainer"])
        table.insert(0, "run", meta["run"])
        table["selection"] = "none"
        table[list(RESULT_COLUMNS)].to_csv(run_dir / "results.csv", index=False)


def _meta(trainer, seed, hp, holdout=None, task="classification", environments=ENVIRONMENTS):
    run = f"{trainer}-s{seed}-h{hp}" + (f"-out-{holdout}" if holdout else "")
    return {
        "run": run, "hash": f"hash-{run}", "group": f"{trainer}-s{seed}", "benchmark": "toy", "trainer": trainer,
        "seed": seed, "hparams_seed": hp, "holdout": holdout, "task": task,
        "train_envs": [e for e, i in environments.items() if i["role"] == "train" and e != holdout],
        "environments": environments, "hparams": {"lr": 10.0 ** -(hp or 0)}, "seconds": 1.5,
    }  # fmt: skip


def make_sweep(root, cf: bool = True):
    """Write the fixed fake sweep into ``root`` (plus an unfinished run and a ``.cache`` dir); return ``root``."""
    for trainer, draws in VALUES.items():
        for seed in (0, 1):
            for hp, (val, test, flip) in draws.items():
                rows = [("all", "train", "seconds", 1.5)]
                for env, acc in zip(TRAIN, val):
                    rows += [(env, "train", "accuracy", 0.99), (env, "val", "accuracy", acc)]
                    rows += [(env, "val", "nll", 1 - acc)] + ([(env, "val", "cf_flip_rate", flip)] if cf else [])
                for env, acc in zip(TEST, test):
                    acc = round(acc - 0.1 * seed, 10)
                    rows += [(env, "test", "accuracy", acc), (env, "test", "nll", 1 - acc)]
                    rows += [(env, "test_val", "accuracy", acc)]
                write_run(root, _meta(trainer, seed, hp), rows)
    for hp, acc in HOLDOUT.items():  # leave-one-out runs of group erm-s0: they look great on val and test
        for out in TRAIN:
            kept = [e for e in TRAIN if e != out]
            rows = [(e, "val", "accuracy", 0.99) for e in kept] + [(out, "holdout", "accuracy", acc)]
            rows += [(e, "test", "accuracy", 0.99) for e in TEST] + [(e, "test_val", "accuracy", 0.99) for e in TEST]
            write_run(root, _meta("erm", 0, hp, holdout=out), rows)
    write_run(root, _meta("irm", 1, 2), [], finished=False)
    (root / ".cache").mkdir()
    return root


@pytest.fixture
def sweep(tmp_path):
    return load_sweep(make_sweep(tmp_path / "sweep"))


def _picks(selected, rule):
    test = selected[(selected["selection"] == rule) & (selected["split"] == "test")]
    return dict(zip(zip(test["group"], test["env"]), test["hparams_seed"]))


def test_load_sweep_reads_finished_runs_and_lists_unfinished(sweep):
    assert len(sweep.runs) == 8 + 4 and sweep.unfinished == ["irm-s1-h2"]
    assert {"run", "hash", "group", "trainer", "seed", "hparams_seed", "holdout", "path"} <= set(sweep.runs.columns)
    assert sweep.runs["holdout"].notna().sum() == 4
    assert {"seed", "hparams_seed", "group", "holdout", "benchmark"} <= set(sweep.rows.columns)
    assert sweep.environments["erm-s0-h0"]["dose_1"]["level"] == 1.0
    assert set(sweep.rows["run"]) == set(sweep.runs["run"])


def test_load_sweep_errors_name_the_path(tmp_path):
    with pytest.raises(SweepError, match="no finished run"):
        load_sweep(tmp_path)
    with pytest.raises(SweepError, match="not a directory"):
        load_sweep(tmp_path / "missing")
    write_run(tmp_path, _meta("erm", 0, 0), [], finished=False)
    with pytest.raises(CausalPhysError, match=r"no finished run.*erm-s0-h0"):
        load_sweep(tmp_path)


def test_training_domain_validation_picks_the_best_validation_draw(sweep):
    selected = select(sweep, [TrainingDomainValidation()])
    assert set(_picks(selected, TDV).values()) == {0}
    assert len(_picks(selected, TDV)) == 4 * 2  # 4 groups x 2 test environments
    assert not selected["run"].str.contains("out").any()  # leave-one-out runs are never candidates


def test_each_rule_picks_the_known_draw(sweep):
    selected = select(sweep)
    assert set(_picks(selected, ORACLE).values()) == {1}
    assert set(_picks(selected, CF).values()) == {1}
    assert _picks(selected, LOO) == {("erm-s0", "dose_0"): 1, ("erm-s0", "dose_1"): 1}
    assert agreement(selected, CF, ORACLE) == 1.0
    assert agreement(selected, TDV, ORACLE) == 0.0
    assert agreement(selected, LOO, TDV) == 0.0


def test_selected_rows_are_tidy_and_carry_the_rule(sweep):
    selected = select(sweep)
    assert set(selected["split"]) == {"test", "val"}
    assert set(selected["selection"]) == {TDV, ORACLE, LOO, CF}
    chosen = selected[(selected["selection"] == TDV) & (selected["run"] == "erm-s1-h0")]
    assert set(zip(chosen["split"], chosen["metric"])) == {
        ("test", "accuracy"), ("test", "nll"), ("val", "accuracy"), ("val", "nll"), ("val", "cf_flip_rate"),
    }  # fmt: skip
    assert len(chosen) == 2 * 2 + 2 * 3  # val rows appear once per chosen run, not once per test environment
    test = chosen[chosen["split"] == "test"].set_index(["env", "metric"])
    assert test.loc[("dose_0", "accuracy"), "value"] == pytest.approx(0.6)
    assert test.loc[("dose_1", "accuracy"), "level"] == 1.0 and test.loc[("dose_1", "accuracy"), "shift"] == "dose"


def test_leave_one_out_notes_groups_without_holdout_runs(sweep):
    choices, notes = choose(sweep)
    loo_notes = [n for n in notes if n.startswith(LOO)]
    assert len(loo_notes) == 3 and any("irm-s1" in n and "hparams_seed=0/e0" in n for n in loo_notes)
    assert set(choices.loc[choices["selection"] == LOO, "group"]) == {"erm-s0"}


def test_counterfactual_respects_the_accuracy_margin_and_needs_cf_rows(sweep, tmp_path):
    # with a margin that excludes draw 1 of erm (val 0.75) but not draw 0 (0.85), draw 0 wins there
    picks = _picks(select(sweep, [Counterfactual(margin=0.32)]), CF)
    assert picks[("erm-s0", "dose_0")] == 0 and ("irm-s0", "dose_0") not in picks  # irm: 0.80 is not > 0.82
    no_cf = load_sweep(make_sweep(tmp_path / "no_cf", cf=False))
    choices, notes = choose(no_cf, [Counterfactual()])
    assert choices.empty and len(notes) == 4 and "cf_flip_rate" in notes[0]


def test_regression_rules_use_rmse_r2_and_cf_change(tmp_path):
    envs = {k: v for k, v in ENVIRONMENTS.items() if k != "dose_1"}
    # hp: (val rmse, val r2, cf_change, test rmse)
    draws = {0: (0.5, 0.8, 0.4, 1.0), 1: (0.7, 0.6, 0.1, 0.9), 2: (0.3, 0.01, 0.0, 2.0)}
    for hp, (rmse, r2, change, test) in draws.items():
        rows = [(e, "val", m, v) for e in TRAIN for m, v in (("rmse", rmse), ("r2", r2), ("cf_change", change))]
        rows += [("dose_0", "test", "rmse", test), ("dose_0", "test_val", "rmse", test)]
        write_run(tmp_path, _meta("erm", 0, hp, task="regression", environments=envs), rows)
    picks = {r: _picks(select(load_sweep(tmp_path), [rule_named(r)]), r) for r in (TDV, ORACLE, CF)}
    assert picks == {TDV: {("erm-s0", "dose_0"): 2}, ORACLE: {("erm-s0", "dose_0"): 1}, CF: {("erm-s0", "dose_0"): 1}}


def test_single_candidate_is_picked_by_every_rule(tmp_path):
    write_run(tmp_path, _meta("erm", 0, None), [("e0", "val", "accuracy", 0.9), ("e0", "val", "cf_flip_rate", 0.1),
              ("dose_0", "test", "accuracy", 0.7), ("dose_0", "test_val", "accuracy", 0.7)])  # fmt: skip
    selected = select(load_sweep(tmp_path), [r for r in ALL if r.name != LOO])
    assert set(selected["run"]) == {"erm-s0-hNone"}
    assert set(selected["selection"]) == {TDV, ORACLE, CF}


def test_unknown_rule_names_are_errors(sweep):
    with pytest.raises(SelectionError, match="known rules"):
        rule_named("best")
    selected = select(sweep, [TrainingDomainValidation()])
    with pytest.raises(SelectionError, match="'orcale'"):
        agreement(selected, TDV, "orcale")
    assert math.isnan(agreement(selected, TDV, ORACLE))
