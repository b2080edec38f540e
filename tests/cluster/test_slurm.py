"""Sweeps through a real Slurm (``hydra/launcher=slurm``): the results equal a local sweep's, the report reads them,
failed and cancelled jobs fail the sweep in bounded time naming their runs, and a rerun resubmits only those.

Run with ``make test-cluster``: ``tests/cluster/with_slurm.sh`` starts a single-node Slurm (with accounting) and
points ``SLURM_CONF`` at it. Without a Slurm these tests fail; ``make test`` deselects them (``-m "not cluster"``).
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..test_run import TINY

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CAUSALPHYS = Path(sys.executable).with_name("causalphys")  # the console script, as a user runs it
TEST_CONF = Path(__file__).resolve().parent / "conf"  # trainers that fail on purpose (crash_once, raise_once)
SLURM = [
    "hydra/launcher=slurm",
    "hydra.launcher.partition=debug",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "hydra.launcher.timeout_min=10",
    "hydra.launcher.array_parallelism=4",
]
SWEEP = ["-m", "trainer=erm,vrex", "seed=0", *TINY]


@pytest.fixture(scope="module", autouse=True)
def slurm():
    """A Slurm to submit to: fail (not skip) without one."""
    if shutil.which("sbatch") is None or not os.environ.get("SLURM_CONF"):
        pytest.fail("no Slurm here (sbatch or SLURM_CONF missing): run these tests with `make test-cluster`")
    out = subprocess.run(["sinfo", "-h", "-o", "%P %T"], capture_output=True, text=True, timeout=30, check=True)
    assert "debug" in out.stdout, out.stdout


def causalphys(*args, timeout=300, check=True):
    """Run ``causalphys ARGS`` from the repository root; returns (exit code, stdout + stderr)."""
    proc = subprocess.run(
        [str(CAUSALPHYS), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, start_new_session=True
    )
    out = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, out
    return proc.returncode, out


def jobs(results: Path) -> set[str]:
    """The Slurm jobs submitted for a sweep: submitit's folder of each (``<id>``, or ``<array id>_<task>`` for the
    tasks of a job array, beside the array's own ``<array id>`` folder)."""
    folder = results / ".submitit"
    names = {p.name for p in folder.iterdir() if p.is_dir() and p.name[0].isdigit()} if folder.is_dir() else set()
    return names - {n.split("_")[0] for n in names if "_" in n}


def finished(results: Path) -> dict[str, str]:
    """``{trainer: run folder}`` of the finished runs (folders are named by the overrides, ``...,trainer=erm``)."""
    return {p.parent.name.rsplit("trainer=", 1)[1]: p.parent.name for p in results.glob("*/results.csv")}


def rows(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def slurm_sweep(tmp_path_factory):
    results = tmp_path_factory.mktemp("slurm") / "sweep"
    _, out = causalphys(*SWEEP, *SLURM, "sweep_name=cluster_test", f"results_dir={results}")
    return results, out


def test_a_sweep_on_slurm_writes_every_run_and_the_report_reads_it(slurm_sweep, tmp_path):
    results, out = slurm_sweep
    runs = finished(results)
    assert runs == {"erm": "seed=0,trainer=erm", "vrex": "seed=0,trainer=vrex"}  # named by the overrides
    assert len(jobs(results)) == 2 and "submitting 2 of 2 run(s)" in out
    for run in runs.values():
        meta = json.loads((results / run / "run.json").read_text())
        assert meta["threads"] == 1  # the job's cpus_per_task, not the node's cores
        assert {r["split"] for r in rows(results / run / "results.csv")} >= {"val", "test"}
    _, report = causalphys("report", str(results), "--out", str(tmp_path / "report"), timeout=120)
    assert "| erm | training-domain validation" in report and "| vrex | training-domain validation" in report
    assert (tmp_path / "report" / "report.md").is_file()


def test_slurm_and_local_sweeps_give_the_same_numbers(slurm_sweep, tmp_path):
    results, _ = slurm_sweep
    local = tmp_path / "local"
    causalphys(*SWEEP, "hydra/launcher=local", "hydra.launcher.n_jobs=1", "threads=1", f"results_dir={local}")
    runs = finished(local)
    assert runs == finished(results)  # the same run folders
    for run in runs.values():
        on_slurm, here = rows(results / run / "results.csv"), rows(local / run / "results.csv")
        assert len(on_slurm) == len(here) > 20
        # the same rows, value for value (the same seed and threads give the same numbers), but the wall-clock time
        assert [r for r in on_slurm if r["metric"] != "seconds"] == [r for r in here if r["metric"] != "seconds"]


def test_failed_jobs_fail_the_sweep_naming_their_runs_and_a_rerun_resubmits_only_them(tmp_path):
    results = tmp_path / "sweep"
    sweep = [
        "-m",
        "trainer=erm,crash_once,raise_once",
        "seed=0",
        *TINY,
        f"hydra.searchpath=[file://{TEST_CONF}]",
        *SLURM,
        "sweep_name=cluster_fail",
        f"results_dir={results}",
    ]
    code, out = causalphys(*sweep, check=False, timeout=240)  # the bound: a failed job is not waited on forever
    assert code != 0, out
    assert f"2 of 3 run(s) of the sweep in {results} failed on Slurm" in out, out
    assert "trainer=crash_once: job " in out and "ended FAILED without a result" in out, out
    assert "trainer=raise_once: RuntimeError: FailOnce: the first attempt of this run fails on purpose" in out, out
    erm = results / finished(results)["erm"] / "results.csv"
    assert list(finished(results)) == ["erm"]  # the finished run stays
    stamp = erm.stat().st_mtime_ns
    submitted = jobs(results)
    assert len(submitted) == 3

    _, out = causalphys(*sweep, timeout=240)
    assert "submitting 2 of 3 run(s)" in out and "trainer=erm: already done, not resubmitted" in out, out
    assert len(jobs(results) - submitted) == 2  # only the two failed runs went to Slurm again
    assert erm.stat().st_mtime_ns == stamp
    assert sorted(finished(results)) == ["crash_once", "erm", "raise_once"]


def test_a_cancelled_job_fails_the_sweep_naming_its_run(tmp_path):
    results = tmp_path / "sweep"
    long_run = [*TINY, "steps=1000000"]  # a key override wins over the preset
    cmd = [str(CAUSALPHYS), "-m", "trainer=erm", "seed=0", *long_run, *SLURM, "sweep_name=cluster_cancel"]
    proc = subprocess.Popen(
        [*cmd, f"results_dir={results}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        job, deadline = "", time.time() + 120
        while not job and time.time() < deadline and proc.poll() is None:
            time.sleep(1)
            job = subprocess.run(
                ["squeue", "-h", "-t", "R", "-n", "causalphys-cluster_cancel", "-o", "%i"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
        assert job, "the job never started"
        subprocess.run(["scancel", job], check=True, timeout=30)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode != 0, out
    assert "1 of 1 run(s)" in out and "steps=1000000,trainer=erm: job " in out, out
    assert "ended CANCELLED" in out, out
    assert not list(results.glob("*/results.csv"))
