"""`causalphys active=...`: an experiment loop through the same entry point, recorded like any run."""

import csv
import json

import pytest
from hydra import compose, initialize_config_dir

from causalphys.errors import ParameterError
from causalphys.run import CONF_DIR, _run_id, run

TINY = ["+tiny=active"]  # conf/tiny/active.yaml


def _compose(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.mark.parametrize("strategy", ["random", "uncertainty", "prediction_shift"])
def test_an_active_run_spends_its_budget_and_is_skipped_when_rerun(strategy, tmp_path):
    pool = ["active.strategy.pool_size=8"] if strategy != "random" else []
    cfg = _compose([*TINY, f"active/strategy={strategy}", *pool])
    results = run(cfg, tmp_path, "r", "erm")
    with open(results) as f:
        rows = list(csv.DictReader(f))
    assert {r["trainer"] for r in rows} == {strategy}
    assert sorted({int(r["labelled"]) for r in rows}) == [16, 32, 40]
    assert {r["env"] for r in rows} == {"heldout_scanners", "test"}
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["kind"] == "active" and sum(meta["counts"].values()) == 40 and len(meta["choices"]) == 3
    assert set(meta["choices"]) <= {"lab_a", "lab_b", "corrected_only", "low_dose_only"}
    mtime = results.stat().st_mtime_ns
    assert run(cfg, tmp_path, "r", "erm") == results and results.stat().st_mtime_ns == mtime


def test_a_penalty_trainer_fits_erm_until_a_second_experiment_is_measured(tmp_path):
    cfg = _compose([*TINY, "trainer=vrex", "active/strategy=random"])
    results = run(cfg, tmp_path, "r", "vrex")
    with open(results) as f:
        rows = list(csv.DictReader(f))
    assert sorted({int(r["labelled"]) for r in rows}) == [16, 32, 40]


def test_active_config_errors_name_the_key(tmp_path):
    with pytest.raises(ParameterError, match="active.evaluate_on: unknown test environment"):
        run(_compose([*TINY, "active.evaluate_on=[nowhere]"]), tmp_path / "a", "r", "erm")
    with pytest.raises(ParameterError, match=r"active: unknown key\(s\) \['budjet'\]"):
        run(_compose([*TINY, "+active.budjet=3"]), tmp_path / "b", "r", "erm")


def test_a_nested_group_override_names_one_folder():
    assert _run_id("active.budget=10,active/strategy=random,seed=0") == "active.budget=10,active.strategy=random,seed=0"
    assert _run_id("") == "defaults"


def test_a_long_override_list_gives_a_short_unique_folder_name():
    long = ",".join(f"+active.candidates.c{i}={{lab:0.0,scanner:1.0,probe_sigma:{i}.0}}" for i in range(8))
    a, b = _run_id(long), _run_id(long.replace("7.0", "8.0"))
    assert len(a.encode()) <= 200 and a.startswith("+active.candidates.c0=") and a != b
    assert _run_id(long) == a  # deterministic
    assert _run_id("seed=0") == "seed=0"  # short names are untouched
