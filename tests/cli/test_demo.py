"""`make demo` end to end on a tiny version of the study: sweep, report, plot, montage."""

from causalphys.cli import demo

from ..test_run import TINY as RUN_TINY  # the benchmark sizes and steps of a unit-test run

TINY = ["trainer=erm,oracle", "seed=0", "shift.levels=[0.0,1.0]", *RUN_TINY, "hydra.launcher.n_jobs=1"]


def test_demo_runs_the_study_and_writes_table_plot_and_montage(tmp_path, capsys):
    written = demo.main(["--results", str(tmp_path / "demo"), *TINY])
    out = capsys.readouterr().out
    assert "| oracle | training-domain validation" in out and "severity=1" in out
    assert {"report", "results", "severity", "montage"} <= set(written)
    for key in ("severity", "montage"):
        assert written[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((tmp_path / "demo").glob("*/results.csv"))) == 2
