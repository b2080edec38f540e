"""What a sweep costs on Slurm (``hydra/launcher=slurm``): the overhead of each job and of the sweep, the time of a
demo-size run, and from them the cost of a sweep of ``--project`` runs.

Needs a Slurm with accounting (``SLURM_CONF``); on a CI-like machine, as root:

    tests/cluster/with_slurm.sh .venv/bin/python benchmarks/slurm_sweep.py [--runs 8] [--parallel 2] [--cpus 1]

Two sweeps, through the ``causalphys`` console script into a temporary folder:

1. ``--runs`` tiny runs (the unit tests' benchmark sizes, 3 steps: the run itself takes about a second),
   ``cpus_per_task=1``, ``array_parallelism=--parallel``. Per job, from ``sacct``: the wait in the queue
   (submit -> start) and the elapsed time; from its ``run.json``: the run's own seconds. **Job overhead** = elapsed -
   run seconds (the interpreter, imports, unpickling the Hydra job, writing results); **sweep overhead** = the
   sweep command's wall time - the span of its jobs (composing configs, submitting, noticing the last result).
2. One demo-size run (``conf/experiment/demo.yaml``'s sizes: 2,000 images per lab, 400 steps, the severity
   shift; ERM), ``cpus_per_task=--cpus``: its elapsed time is what one run of the demo study costs on one job.

The projection: each run occupies ``cpus`` cores for ``run + job overhead`` seconds, so ``--project`` runs cost
``project * cpus * (run + job overhead)`` core-seconds, and with ``P`` runs at once (``array_parallelism``, when
the cluster has that many free slots) take ``ceil(project / P) * (run + job overhead) + sweep overhead`` seconds.
Prints one JSON document. Slurm's timestamps have 1 s resolution.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAUSALPHYS = Path(sys.executable).with_name("causalphys")
TINY = ["+tiny=scanner_shift"]  # conf/tiny/scanner_shift.yaml
DEMO = [  # conf/experiment/demo.yaml, one run
    "shift=severity",
    "steps=400",
    "benchmark.n_train=2000",
    "benchmark.n_val=400",
    "benchmark.n_test=600",
    "benchmark.n_counterfactual=200",
    "trainer.batch_size=64",
]


def sweep(results: Path, *overrides: str, timeout: float = 1800) -> float:
    """Run ``causalphys -m OVERRIDES`` on Slurm into ``results``; returns its wall time (s)."""
    started = time.perf_counter()
    subprocess.run(
        [str(CAUSALPHYS), "-m", *overrides, "progress=false", "hydra/launcher=slurm", f"results_dir={results}"],
        cwd=ROOT,
        check=True,
        timeout=timeout,
        capture_output=True,
    )
    return time.perf_counter() - started


def accounting(results: Path) -> list[dict]:
    """``sacct``'s record of every job of the sweep in ``results``: submit, start and end times (s, epoch)."""
    # submitit's folder of each job: <id>, or <array id> and <array id>_<task>
    ids = sorted({p.name.split("_")[0] for p in (results / ".submitit").iterdir() if p.name[0].isdigit()})
    for _ in range(30):  # the accounting records of the last jobs can lag a few seconds
        out = subprocess.run(
            ["sacct", "-n", "-P", "-X", "-j", ",".join(ids), "-o", "JobID,State,Submit,Start,End"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        jobs = [dict(zip(("job", "state", "submit", "start", "end"), line.split("|"))) for line in out.splitlines()]
        if jobs and all(j["state"] == "COMPLETED" and j["end"] not in ("", "Unknown") for j in jobs):
            break
        time.sleep(1)
    else:
        raise RuntimeError(f"sacct does not report every job of {results} as completed: {out}")
    for j in jobs:
        for key in ("submit", "start", "end"):
            j[key] = datetime.fromisoformat(j[key]).timestamp()
    return jobs


def run_seconds(results: Path) -> list[float]:
    return [json.loads(p.read_text())["seconds"] for p in results.glob("*/run.json")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="tiny runs in the overhead sweep")
    parser.add_argument("--parallel", type=int, default=2, help="array_parallelism of the overhead sweep")
    parser.add_argument("--cpus", type=int, default=1, help="cpus_per_task of the demo-size run")
    parser.add_argument("--project", type=int, default=100, help="runs in the projected sweep")
    args = parser.parse_args()
    if not os.environ.get("SLURM_CONF"):
        parser.error("no SLURM_CONF: run it through tests/cluster/with_slurm.sh (see the docstring)")

    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "tiny"
        tiny_wall = sweep(
            tiny,
            "trainer=erm",
            f"seed=range(0,{args.runs})",
            *TINY,
            "hydra.launcher.cpus_per_task=1",
            f"hydra.launcher.array_parallelism={args.parallel}",
        )
        jobs = accounting(tiny)
        elapsed = [j["end"] - j["start"] for j in jobs]
        queued = [j["start"] - j["submit"] for j in jobs]
        tiny_seconds = run_seconds(tiny)
        job_overhead = statistics.median(elapsed) - statistics.median(tiny_seconds)
        span = max(j["end"] for j in jobs) - min(j["submit"] for j in jobs)

        demo = Path(tmp) / "demo"
        demo_wall = sweep(demo, "trainer=erm", "seed=0", *DEMO, f"hydra.launcher.cpus_per_task={args.cpus}")
        (demo_job,) = accounting(demo)
        demo_elapsed = demo_job["end"] - demo_job["start"]
        (demo_run,) = run_seconds(demo)

    sweep_overhead = tiny_wall - span
    per_run = demo_elapsed  # run + job overhead, measured on one job
    slots = sorted({args.parallel, 10, 32, args.project})
    print(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0]},
                "overhead_sweep": {
                    "runs": args.runs,
                    "array_parallelism": args.parallel,
                    "wall_s": round(tiny_wall, 1),
                    "jobs_span_s": round(span, 1),
                    "sweep_overhead_s": round(sweep_overhead, 1),
                    "job_elapsed_s_median": statistics.median(elapsed),
                    "run_seconds_median": round(statistics.median(tiny_seconds), 2),
                    "job_overhead_s_median": round(job_overhead, 1),
                    "queue_wait_s_max": max(queued),
                },
                "demo_size_run": {
                    "cpus_per_task": args.cpus,
                    "sweep_wall_s": round(demo_wall, 1),
                    "job_elapsed_s": demo_elapsed,
                    "run_seconds": round(demo_run, 1),
                },
                "projection": {
                    "runs": args.project,
                    "cpus_per_task": args.cpus,
                    "core_hours": round(args.project * args.cpus * per_run / 3600, 2),
                    "wall_minutes_by_runs_at_once": {
                        p: round((math.ceil(args.project / p) * per_run + sweep_overhead) / 60, 1) for p in slots
                    },
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
