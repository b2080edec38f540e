"""The iVAE nonlinear ICA study runs end to end at toy size, resumes and tabulates (its real run: experiments/crl)."""

import csv

from .scripts import load


def test_ivae_ica_study_runs_resumes_and_tabulates(tmp_path):
    study = load("experiments/crl/ivae_ica.py")
    args = ["--seeds", "1", "--first-seed", "2", "--n-per-segment", "10", "--max-steps", "2", "--out", str(tmp_path)]
    study.main(args + ["--methods", "ivae,identity"])
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert {r["trainer"] for r in rows} == {"ivae", "identity"} and {r["run"] for r in rows} == {"seed2"}
    assert {r["metric"] for r in rows if r["trainer"] == "identity"} == {"mcc_pearson", "mcc_spearman", "seconds"}
    assert {r["selection"] for r in rows} == {"final-step"} and {r["env"] for r in rows} == {"all"}
    assert all(0.0 <= float(r["value"]) <= 1.0 for r in rows if r["metric"].startswith("mcc"))
    before = (tmp_path / "results.csv").read_text()
    study.main(args + ["--methods", "ivae,identity"])  # everything is done: nothing reruns, nothing changes
    assert (tmp_path / "results.csv").read_text() == before
    assert "| ivae | pearson |" in (tmp_path / "table.md").read_text()
