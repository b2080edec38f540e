"""`causalphys report` on a sweep of experiment loops: learning curves, labels to a target, refusal to mix."""

import json

import pandas as pd
import pytest

from causalphys.active.loop import ACTIVE_FIELDS
from causalphys.cli.report import main as report_main
from causalphys.evaluation.store import rows_to_csv


def _write_run(root, strategy, seed, values, kind="active", envs=("heldout",)):
    run = f"strategy={strategy},seed={seed}"
    folder = root / run
    folder.mkdir(parents=True)
    meta = {"run": run, "kind": kind, "group": strategy, "benchmark": "b", "trainer": "erm", "task": "classification"}
    (folder / "run.json").write_text(json.dumps({**meta, "strategy": strategy, "seed": seed}))
    rows = [
        {
            "run": run,
            "trainer": strategy,
            "env": env,
            "split": "test",
            "metric": "accuracy",
            "value": v,
            "selection": "final-step",
            "round": r,
            "labelled": 100 * (r + 1),
            "candidate": "a",
        }
        for r, v in enumerate(values)
        for env in envs
    ]
    (folder / "results.csv").write_text(rows_to_csv(rows, ACTIVE_FIELDS))


def test_curves_and_labels_to_target(tmp_path, capsys):
    _write_run(tmp_path, "random", 0, [0.50, 0.66, 0.60, 0.70])  # touches 0.65 at 200, for good from 400
    _write_run(tmp_path, "random", 1, [0.50, 0.52, 0.58, 0.62])  # never reaches 0.65
    _write_run(tmp_path, "uncertainty", 0, [0.50, 0.66, 0.70, 0.72])
    _write_run(tmp_path, "uncertainty", 1, [0.55, 0.64, 0.69, 0.71])
    written = report_main([str(tmp_path), "--target", "0.65"])
    text = capsys.readouterr().out
    assert "| 200 | 0.590 ± 0.099 | 0.650 ± 0.014 |" in text
    # for good: random 400 and censored 500 (budget 400 + one round of 100) -> mean 450; uncertainty 200 and 300
    # -> 250, 0.56 of random's; first: random 200 and 500 -> 350, uncertainty 250 -> 0.71
    assert "| random | 450 | 450 ± 71 | 1/2 |  | 350 | 350 ± 212 | 1/2 |  |" in text
    assert "| uncertainty | 250 | 250 ± 71 | 2/2 | 0.56 | 250 | 250 ± 71 | 2/2 | 0.71 |" in text
    assert "counts as 500 (the budget plus one round)" in text
    # several environments at once, ENV=VALUE; an environment the loops did not score is named
    report_main([str(tmp_path), "--target", "heldout=0.7"])
    assert "## Labels to reach accuracy 0.7 on heldout" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        report_main([str(tmp_path), "--target", "elsewhere=0.7"])
    assert "target environment(s) ['elsewhere'] were not scored" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        report_main([str(tmp_path), "--target", "test=high"])
    assert "expected VALUE or ENV=VALUE" in capsys.readouterr().err
    curves = pd.read_csv(written["curves"])
    assert set(curves["strategy"]) == {"random", "uncertainty"} and curves["runs"].max() == 2
    assert written["plot"].stat().st_size > 0


def test_a_sweep_mixing_loops_and_training_runs_is_refused(tmp_path):
    _write_run(tmp_path, "random", 0, [0.5])
    folder = tmp_path / "plain"
    folder.mkdir()
    meta = {"run": "plain", "group": "g", "benchmark": "b", "trainer": "erm", "seed": 0, "task": "classification"}
    (folder / "run.json").write_text(json.dumps(meta))
    row = {"run": "plain", "trainer": "erm", "env": "test", "split": "test", "metric": "accuracy", "value": 0.5}
    (folder / "results.csv").write_text(rows_to_csv([{**row, "selection": "final-step"}]))
    with pytest.raises(SystemExit):
        report_main([str(tmp_path)])


def test_targets_on_several_environments_at_once(tmp_path, capsys):
    for seed in (0, 1):
        _write_run(tmp_path, "random", seed, [0.5, 0.6, 0.7], envs=("heldout", "test"))
    written = report_main([str(tmp_path), "--target", "heldout=0.55", "--target", "test=0.65"])
    text = capsys.readouterr().out
    assert "## Labels to reach accuracy 0.55 on heldout" in text and "## Labels to reach accuracy 0.65 on test" in text
    assert "| random | 200 | 200 ± 0 | 2/2 |  |" in text and "| random | 300 | 300 ± 0 | 2/2 |  |" in text
    assert written["plot"].stat().st_size > 0
