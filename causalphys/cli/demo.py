"""`make demo`: the default scanner-shift study, small enough for a laptop.

ERM, IRM, V-REx and the oracle (ERM where the scanner is independent of the label) on the default scanner-shift
benchmark, 2 seeds, with the severity sweep (``conf/experiment/demo.yaml``), run as a Hydra sweep on the local
cores; then the report (summary table, per-environment table, severity plot) and the scanner montage.

    python -m causalphys.cli.demo [--results results/demo] [HYDRA_OVERRIDE ...]

Rerunning resumes: finished runs are skipped. The full-size study: ``causalphys -m +experiment=scanner_shift_study``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from causalphys.cli.montage import scanner_montage
from causalphys.evaluation.report import summary_table, write_report
from causalphys.evaluation.selection import choose, selected_rows
from causalphys.evaluation.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[2]


def main(argv=None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/demo"), help="the sweep folder")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides, e.g. hydra.launcher.n_jobs=1")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    command = [sys.executable, "-m", "causalphys.run", "-m", "+experiment=demo", f"results_dir={args.results}"]
    print("$ " + " ".join(command[2:] + args.overrides), flush=True)
    subprocess.run(command + args.overrides, cwd=ROOT, check=True)
    written = write_report(args.results)
    written["montage"] = scanner_montage(Path(args.results) / "montage.png")
    sweep = load_sweep(args.results)
    selected = selected_rows(sweep, choose(sweep)[0])
    print("\nAccuracy (%) on the scanner-shift benchmark, mean ± std over seeds, by model-selection rule:\n")
    print(summary_table(selected, "accuracy"))
    print(f"\nin {time.perf_counter() - started:.0f} s; written:")
    for path in written.values():
        print(f"  {path}")
    print("Full study: causalphys -m +experiment=scanner_shift_study (see experiments/scanner_shift/).")
    return written


if __name__ == "__main__":
    main()
