"""Tables, the severity plot, the written report and the CLI on the fixed fake sweep of ``test_selection``."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest

from causalphys.cli import report as cli
from causalphys.errors import CausalPhysError
from causalphys.evaluation.report import (
    ReportError,
    per_environment_table,
    plot_severity,
    severity_table,
    summary_table,
    write_report,
)
from causalphys.evaluation.selection import ALL, select
from causalphys.evaluation.sweep import load_sweep
from tests.evaluation.test_selection import CF, LOO, ORACLE, TDV, make_sweep

PNG_HEADER = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def sweep_dir(tmp_path):
    return make_sweep(tmp_path / "sweep")


@pytest.fixture
def selected(sweep_dir):
    return select(load_sweep(sweep_dir))


def _table(markdown: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines()]


def test_summary_table_cells_are_mean_pm_std_over_seeds(selected):
    rows = _table(summary_table(selected))
    assert rows[0] == ["trainer", "selection", "in-distribution", "dose_0", "dose_1", "worst test", "OOD gap", "seeds"]
    body = {(r[0], r[1]): r[2:] for r in rows[2:]}
    both = f"{ORACLE} = {CF}"  # the two rules chose the same runs: one row, not two identical ones (issue 19 §9)
    assert body[("erm", TDV)] == ["85.0 ± 0.0", "65.0 ± 7.1", "45.0 ± 7.1", "45.0 ± 7.1", "30.0 ± 7.1", "2"]
    assert body[("erm", both)] == ["75.0 ± 0.0", "75.0 ± 7.1", "55.0 ± 7.1", "55.0 ± 7.1", "10.0 ± 7.1", "2"]
    assert body[("irm", both)] == ["70.0 ± 0.0", "75.0 ± 7.1", "70.0 ± 7.1", "70.0 ± 7.1", "-2.5 ± 7.1", "2"]
    assert body[("erm", LOO)] == ["75.0", "80.0", "60.0", "60.0", "5.0", "1"]  # one seed: the mean alone
    assert ("irm", LOO) not in body and len(body) == 5
    assert not any(CF == r[1] or ORACLE == r[1] for r in rows[2:])


def test_summary_table_prints_other_metrics_raw(selected):
    body = {(r[0], r[1]): r[2:] for r in _table(summary_table(selected, metric="nll"))[2:]}
    # nll = 1 - accuracy; lower is better, so the worst test environment is the largest nll, and the OOD gap is
    # test minus in-distribution: positive = worse, as for accuracy (it was -0.050 here, +5.0 points for accuracy)
    assert body[("erm", LOO)] == ["0.250", "0.200", "0.400", "0.400", "0.050", "1"]
    with pytest.raises(ReportError, match="'rmse'"):
        summary_table(selected, metric="rmse")


def test_per_environment_table(selected):
    rows = _table(per_environment_table(selected, {"dose_0": "full dose", "dose_1": "low dose"}))
    assert rows[0] == ["test environment", "description", "test units", "erm", "irm"]
    assert rows[2:] == [
        ["dose_0", "full dose", "—", "65.0 ± 7.1", "70.0 ± 7.1"],
        ["dose_1", "low dose", "—", "45.0 ± 7.1", "60.0 ± 7.1"],
    ]
    oracle = _table(per_environment_table(selected, rule=ORACLE))
    assert oracle[3] == ["dose_1", "", "—", "55.0 ± 7.1", "70.0 ± 7.1"]


def test_one_runs_accuracy_comes_with_its_binomial_interval(selected):
    """With the units behind a cell known (run.json's environments record them), a single run's accuracy gets its
    95 % Wilson interval; cells over seeds keep mean ± std."""
    from causalphys.evaluation.report import wilson_interval

    low, high = wilson_interval(0.5, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)  # the textbook value for 50 of 100
    one = selected[selected["seed"] == 0]
    rows = _table(per_environment_table(one, units={"dose_0": 400, "dose_1": 400}))
    assert rows[2][2] == "400" and rows[2][3].startswith("70.0 [") and "±" not in rows[2][3]  # seed 0: 70 %
    assert rows[2][3] == "70.0 [{:.1f}, {:.1f}]".format(*(100 * v for v in wilson_interval(0.70, 400)))


def test_severity_table_and_plot(selected, tmp_path):
    table = severity_table(selected)
    erm = table[(table["selection"] == TDV) & (table["trainer"] == "erm")]
    assert erm["level"].tolist() == [0.0, 1.0] and erm["shift"].tolist() == ["dose", "dose"]
    assert erm["mean"].tolist() == pytest.approx([0.65, 0.45])
    assert erm["std"].tolist() == pytest.approx([0.1 / math.sqrt(2)] * 2)
    assert table.loc[table["selection"] == LOO, "seeds"].tolist() == [1, 1]
    path = plot_severity(selected, tmp_path / "plots" / "severity.png")
    assert path.read_bytes()[:8] == PNG_HEADER
    assert [p.name for p in path.parent.iterdir()] == ["severity.png"]  # no temporary file left behind


def test_severity_needs_a_shift_level(selected, tmp_path):
    flat = selected.assign(level=float("nan"))
    assert severity_table(flat).empty
    with pytest.raises(ReportError, match="numeric level"):
        plot_severity(flat, tmp_path / "x.png")


def test_write_report_writes_all_files(sweep_dir, tmp_path):
    written = write_report(sweep_dir, out_dir=tmp_path / "out")
    assert {p.name for p in written.values()} == {"report.md", "results_selected.csv", "severity.png"}
    assert written["severity"].read_bytes()[:8] == PNG_HEADER
    text = written["report"].read_text()
    assert "| erm | training-domain validation | 85.0 ± 0.0 | 65.0 ± 7.1 |" in text
    assert f"- {CF} vs {ORACLE}" not in text  # pairs are listed in rule order
    assert f"- {ORACLE} vs {CF}: same run in 100.0 % of 8 (group, test environment) pairs" in text
    assert f"- {TDV} vs {ORACLE}: same run in 0.0 % of 8" in text
    assert "no choice for group irm-s1" in text
    assert text.rstrip().endswith("- irm-s1-h2")
    rows = pd.read_csv(written["results"])
    assert set(rows["selection"]) == {r.name for r in ALL} and "none" not in set(rows["selection"])
    assert not (sweep_dir / "report.md").exists()
    assert write_report(sweep_dir)["report"] == sweep_dir / "report.md"  # default: into the sweep dir
    load_sweep(sweep_dir)  # the written files do not disturb reading the sweep again


def test_write_report_on_an_empty_dir_is_an_error(tmp_path):
    with pytest.raises(CausalPhysError, match=r"no finished run"):
        write_report(tmp_path)


def test_cli_prints_the_report_and_the_written_paths(sweep_dir, tmp_path, capsys):
    written = cli.main([str(sweep_dir), "--out", str(tmp_path / "out"), "--metric", "accuracy"])
    captured = capsys.readouterr()
    assert captured.out.startswith("# Sweep report:") and f"| irm | {ORACLE} = {CF} | 70.0 ± 0.0 |" in captured.out
    assert str(written["report"]) in captured.err and str(written["severity"]) in captured.err


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(tmp_path)])
    assert exit_info.value.code == 1 and "no finished run" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--metric", "acuracy"], 1, r"unknown metric 'acuracy'.*'accuracy'"),
        (["--target", "test=0.7"], 2, "--target and --env are for sweeps of experiment loops"),
    ],
)
def test_cli_refuses_an_unknown_metric_and_loop_options_on_a_training_sweep(sweep_dir, tmp_path, capsys, args, code,
                                                                             message):  # fmt: skip
    """Both exited 0 before, with a report that said nothing ("No selected rows of metric 'acuracy'")."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(sweep_dir), "--out", str(tmp_path / "out"), *args])
    assert exit_info.value.code == code
    assert re.search(message, capsys.readouterr().err)


def test_a_cut_off_results_file_is_listed_as_damaged_and_the_rest_is_reported(sweep_dir, tmp_path):
    """results.csv cut off mid-value (a full disk) used to be read as valid (the cut value taken, the seed count
    silently dropped); its digest in run.json now names the run damaged, the report leaves it out of every table and
    says so, and the run is not taken for finished (a rerun computes it again)."""
    from causalphys.evaluation.store import RunFolder

    folder = RunFolder(sweep_dir / "extra", "feedbeef")
    meta = {"run": "extra", "group": "g", "benchmark": "bench", "trainer": "erm", "seed": 7, "task": "classification"}
    folder.write(meta, [{"run": "extra", "trainer": "erm", "env": "test_a", "split": "test", "metric": "accuracy",
                         "value": 0.123456, "selection": "none"}])  # fmt: skip
    assert folder.finished() and load_sweep(sweep_dir).damaged == {}
    text = folder.results.read_text()
    folder.results.write_text(text[: text.index("0.123") + 3])  # cut inside the value: "0.1"
    assert not folder.finished()
    sweep = load_sweep(sweep_dir)
    assert list(sweep.damaged) == ["extra"] and "does not match its run.json" in sweep.damaged["extra"]
    assert "extra" not in set(sweep.runs["run"])
    report = write_report(sweep_dir, out_dir=tmp_path / "out")["report"].read_text()
    assert "1 damaged (left out)" in report and "## Damaged runs" in report and "- extra: " in report


def test_a_corrupt_run_json_or_a_garbage_results_file_no_longer_blocks_the_report(sweep_dir):
    garbage, corrupt = sweep_dir / "garbage", sweep_dir / "corrupt"
    for run in (garbage, corrupt):
        run.mkdir()
    (garbage / "run.json").write_text(json.dumps({"run": "garbage", "group": "g", "benchmark": "bench",
                                                  "trainer": "erm", "seed": 0, "task": "classification"}))  # fmt: skip
    (garbage / "results.csv").write_bytes(b"\x00\x01 not a table")
    (corrupt / "run.json").write_text("{ cut")
    (corrupt / "results.csv").write_text("run,trainer,env,split,metric,value,selection\n")
    sweep = load_sweep(sweep_dir)
    assert set(sweep.damaged) == {"garbage", "corrupt"} and "cannot read run description" in sweep.damaged["corrupt"]
    assert len(sweep.runs) > 0


def test_rules_that_chose_the_same_runs_share_one_severity_panel(selected):
    """Identical panels were drawn once per rule; now rules with the same numbers share a panel (NaN std of a
    single seed compares equal too)."""
    from causalphys.evaluation.report import shared_panels

    table = severity_table(selected)
    groups = shared_panels(table)
    assert sorted(r for g in groups for r in g) == sorted(set(table["selection"]))
    for group in groups:
        first = table[table["selection"] == group[0]].reset_index(drop=True)
        for rule in group[1:]:
            other = table[table["selection"] == rule].reset_index(drop=True)
            assert first[["trainer", "level", "mean"]].equals(other[["trainer", "level", "mean"]])
    for rule in (TDV, LOO):  # LOO's rows are single seeds: their std is NaN
        twin = pd.concat([table, table[table["selection"] == rule].assign(selection="twin")])
        assert ["twin"] in [g[1:] for g in shared_panels(twin) if g[0] == rule]


def test_a_read_only_sweep_folder_gets_a_hint_to_write_elsewhere(sweep_dir, tmp_path, capsys, monkeypatch):
    """A raw OSError before; now the error names the folder and suggests --out. (The write is made to fail as a
    read-only folder makes it fail: the tests may run as root, whom a folder's mode does not stop.)"""

    def read_only(path, write):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("causalphys.evaluation.report.write_atomic", read_only)
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(sweep_dir)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and f"cannot write the report into {sweep_dir}" in err and "give --out DIR" in err


def test_the_ood_gap_does_not_move_when_a_shift_adds_test_environments(selected):
    """The gap is taken over the benchmark's own test environments (no shift made them): a shift added to the sweep
    adds columns but leaves the gap as it was (it averaged every test environment before)."""
    own = selected.assign(shift=selected["shift"].where(selected["env"] != "dose_0", None))
    gap = {(r[0], r[1]): r[-2] for r in _table(summary_table(own))[2:]}
    assert gap[("erm", LOO)] == "-5.0"  # in-distribution 75 against dose_0's 80, dose_1 left out
    extra = own[own["env"] == "dose_1"].assign(env="dose_9", level=9.0, value=0.0)
    wider = {(r[0], r[1]): r[-2] for r in _table(summary_table(pd.concat([own, extra])))[2:]}
    assert wider == gap


def test_severity_figure_draws_in_distribution_chance_and_what_moves(selected):
    """Issue 19 §9: each trainer's in-distribution level (dotted, its colour), the chance line, a fixed 0-100 %
    axis, and under the panels what moves along the axis."""
    from causalphys.evaluation.report import per_seed, severity_figure

    fig = severity_figure(selected, chance=0.5, axes_notes={"dose": "harder: dose; easier: nothing"})
    tdv = next(a for a in fig.axes if TDV in a.get_title())
    lines = {(line.get_gid(), line.get_color()): line.get_ydata()[0] for line in tdv.lines if line.get_gid()}
    ids = per_seed(selected).groupby(["selection", "trainer"])["in-distribution"].mean()
    assert lines[("in-dist", "C0")] == pytest.approx(100 * ids[(TDV, "erm")])  # 85 %
    assert lines[("in-dist", "C1")] == pytest.approx(100 * ids[(TDV, "irm")])
    assert lines[("chance", "grey")] == 50
    assert tdv.get_ylim() == (0, 100)
    texts = [t.get_text() for a in fig.axes for t in a.texts]
    assert any("along dose: harder: dose" in t for t in texts)
    assert "in-distribution (its colour)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_severity_axis_says_which_parameters_get_easier():
    """The low-dose scanner's severity axis is not monotone in difficulty (its dose rises toward drifty_older): the
    environment says so instead of calling every level harder."""
    from causalphys.microscopy.scanners import load_scanners
    from causalphys.microscopy.shifts import moves

    presets = {p.name: p for p in load_scanners()}
    low = moves(presets["low_dose"], presets["drifty_older"])
    assert low["easier"] == ["dose"] and {"drift_speed", "probe_sigma"} <= set(low["harder"])
    assert moves(presets["corrected_200kv"], presets["uncorrected_200kv"])["easier"] == []


def test_many_trainers_get_distinct_lines_and_a_legend_beside_the_panels(selected):
    """Twelve trainers (the scanner-shift study): colours repeat past ten, so the marker changes; the legend leaves
    the panels."""
    from causalphys.evaluation.report import severity_figure

    many = pd.concat([selected.assign(trainer=f"t{k}") for k in range(12)])
    fig = severity_figure(many)
    lines = [c for c in fig.axes[0].containers]
    styles = {(c.lines[0].get_color(), c.lines[0].get_marker()) for c in lines}
    assert len(lines) == 12 and len(styles) == 12
    assert fig.axes[0].get_legend() is None and fig.legends


def test_environment_info_fills_a_field_older_runs_lack(sweep_dir):
    sweep = load_sweep(sweep_dir)
    first, *rest = list(sweep.environments)
    sweep.environments[first] = {"dose_0": {"description": "x"}}
    sweep.environments[rest[0]] = {"dose_0": {"description": "y", "axis": "dose down"}}
    info = sweep.environment_info()["dose_0"]
    assert info["description"] == "x" and info["axis"] == "dose down"  # the first run's, then what it lacked
