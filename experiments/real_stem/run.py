"""Stress test on a real microscope image: models trained only on the simulator, scored on the recorded SrTiO3 ADF
image of ../shared/data/stem/ and on that image re-imaged by ever worse instruments.

Step 1 trains ERM, the oracle, IRM and V-REx on the default scanner-shift benchmark (the harness, with
``save_model=true``); step 2 scores each saved net with ``causalphys evaluate benchmark=srtio3`` under the
degradation shift and the dose sweep of recorded images (``conf/shift/degradation.yaml``,
``conf/shift/reimaged_dose.yaml``); step 3 writes the reports (accuracy, and the flip rates against the
recording). Every step is a ``causalphys`` command (printed as it runs) and skips what is finished, so an interrupted
run resumes::

    .venv/bin/python experiments/real_stem/run.py [--seeds 3] [--out results/real_stem]

The image is perovskite, so a tile's accuracy is whether the net calls it perovskite (class 0 of the phase task);
``cf_flip_rate`` is how often the call for a tile changes between the recording and its re-imaged version (no
label needed).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAINERS = ("erm", "oracle", "irm", "vrex")
SHIFTS = ("degradation", "reimaged_dose")


def causalphys(*args: str) -> None:
    command = [sys.executable, "-m", "causalphys.run", *args]
    print("$ causalphys " + " ".join(args), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("results/real_stem"))
    p.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args(argv)
    seeds = ",".join(str(s) for s in range(args.seeds))
    models, scores = args.out / "models", args.out / "scores"
    causalphys(
        "-m", f"trainer={','.join(TRAINERS)}", f"seed={seeds}", "save_model=true", "progress=false",
        f"results_dir={models}",
    )  # fmt: skip
    for trainer in TRAINERS:
        for seed in range(args.seeds):
            run = models / f"save_model=True,seed={seed},trainer={trainer}"
            for shift in SHIFTS:
                causalphys(
                    "evaluate", "benchmark=srtio3", f"shift={shift}", f"model='{run}'", f"model_name={trainer}",
                    f"seed={seed}", "progress=false", f"results_dir={scores}",
                )  # fmt: skip
    causalphys("report", str(scores))
    causalphys("report", str(scores), "--metric", "cf_flip_rate", "--out", str(scores / "flips"))
    args.results.mkdir(parents=True, exist_ok=True)
    for source, name in (("report.md", "report.md"), ("severity.png", "severity.png"), ("flips/report.md", "flips.md")):
        shutil.copy(scores / source, args.results / name)
    print(f"reports copied to {args.results}")


if __name__ == "__main__":
    main()
