"""`causalphys report <sweep dir>`: select models in a finished (or running) sweep and write its report.

Prints the markdown report to stdout and the written files to stderr; see
:func:`causalphys.evaluation.report.write_report` for what is written where.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from causalphys.errors import CausalPhysError
from causalphys.evaluation.report import write_report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="causalphys report", description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", type=Path, help="the sweep directory (one sub-directory per run)")
    p.add_argument("--out", type=Path, default=None, help="where to write the report (default: the sweep directory)")
    p.add_argument(
        "--metric", default=None, help="metric of the tables (default: accuracy, or rmse for regression benchmarks)"
    )
    return p


def main(argv=None) -> dict[str, Path]:
    """Parse ``argv`` (default ``sys.argv[1:]``), write the report, print it; returns ``{name: path}`` written."""
    p = parser()
    args = p.parse_args(argv)
    try:
        written = write_report(args.sweep_dir, out_dir=args.out, metric=args.metric)
    except CausalPhysError as err:
        p.exit(1, f"{p.prog}: error: {err}\n")
    print(written["report"].read_text(), end="")
    for name, path in written.items():
        print(f"wrote {name}: {path}", file=sys.stderr)
    return written


if __name__ == "__main__":
    main()
