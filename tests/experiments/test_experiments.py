"""The experiment scripts run end to end at toy sizes (their real runs are in experiments/*/README.md)."""

import csv

from .scripts import load


def test_scanner_shift_calibration_runs_and_writes_tidy_rows(tmp_path):
    calibrate = load("experiments/scanner_shift/calibrate.py")
    calibrate.main(
        ["--seeds", "1", "--n-train", "24", "--n-val", "8", "--n-test", "16", "--steps", "2", "--out", str(tmp_path)]
    )
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert {r["trainer"] for r in rows} == {"erm", "oracle"}
    assert {r["selection"] for r in rows} == {"final-step"}
    assert all(0.0 <= float(r["value"]) <= 1.0 for r in rows)
    assert "| ERM (confounded labs) |" in (tmp_path / "calibration.md").read_text()


def test_montage_figure_is_written(tmp_path):
    load("experiments/microscopy_montage/make_figure.py").main(["--out", str(tmp_path)])
    assert (tmp_path / "montage.png").stat().st_size > 10_000


def test_colored_mnist_study_runs_resumes_and_tabulates(tmp_path, random_mnist):
    npz = random_mnist
    study = load("experiments/colored_mnist/run.py")
    args = [
        "--seeds",
        "1",
        "--methods",
        "erm,irm,grayscale",
        "--mnist",
        str(npz),
        "--out",
        str(tmp_path),
        "--max-steps",
        "2",
    ]
    study.main(args)
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert {r["trainer"] for r in rows} == {"erm", "irm", "grayscale"}
    assert {r["env"] for r in rows if r["metric"] == "accuracy"} == {"train_0.2", "train_0.1", "test_0.9"}
    before = (tmp_path / "results.csv").read_text()
    study.main(args)  # everything is done: nothing reruns, nothing changes
    assert (tmp_path / "results.csv").read_text() == before
    assert "| irm | 1 |" in (tmp_path / "table.md").read_text()


def test_calibrated_strain_study_runs_resumes_and_tabulates(tmp_path):
    study = load("experiments/crl/strain_calibrated.py")
    args = ["--seeds", "1", "--n-train", "32", "--steps", "3", "--encoder-steps", "2", "--n-latents", "24"]
    args += ["--n-fft", "8", "--out", str(tmp_path)]
    study.main(args)
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert {r["trainer"] for r in rows} == {"fft_peaks", "supervised", "content_style"}
    assert {r["probe"] for r in rows if r["trainer"] == "fft_peaks"} == {"direct"}
    assert {r["block"] for r in rows} == {"seen_scanners", "heldout_scanners", "head"}
    before = (tmp_path / "results.csv").read_text()
    study.main(args)  # everything is done: nothing reruns, nothing changes
    assert (tmp_path / "results.csv").read_text() == before
    table = (tmp_path / "table.md").read_text()
    assert "### strain 0.02, rotation ±0.02, pixel 0.3, spread 0, 64 px" in table
    assert "| seen_scanners | fft_peaks | direct | 1 |" in table


def test_hypothesis_learning_study_runs_resumes_and_tabulates(tmp_path):
    study = load("experiments/active/hypothesis_scan.py")
    args = ["--seeds", "1", "--rows", "64", "--budget", "12", "--out", str(tmp_path)]
    study.main(args)
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"hypothesis_learning", "uniform"} <= {r["trainer"] for r in rows}
    assert {"none", "drift", "mains"} <= {r["env"] for r in rows}
    stamp = (tmp_path / "results.csv").stat().st_mtime_ns
    study.main(args)  # everything is done: nothing reruns, nothing changes
    assert (tmp_path / "results.csv").stat().st_mtime_ns == stamp
    assert (tmp_path / "table.md").read_text().strip()


def test_textbook_equations_study_runs_and_tabulates(tmp_path):
    study = load("experiments/equations/textbook.py")
    table = study.main(["--seeds", "1", "--n", "120", "--n-heldout", "150", "--out", str(tmp_path)])
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(rows) == len(table)
    assert {r["method"] for r in rows} == {"mechanism_learner", *study.cp.discovery.METHODS}
    assert {r["node"] for r in rows if r["metric"] == "true_formula_first"} == {"m", "g", "y"}
    report = (tmp_path / "results.md").read_text()
    assert "| uses the child |" in report and "| y | m, b, c, p |" in report
