"""`causalphys report <sweep dir>`: select models in a finished (or running) sweep and write its report.

Prints the markdown report to stdout and the written files to stderr; see
:func:`causalphys.evaluation.report.write_report` for what is written where.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from causalphys.active.report import write_active_report
from causalphys.errors import CausalPhysError
from causalphys.evaluation.report import write_report
from causalphys.evaluation.sweep import SweepError, load_sweep


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="causalphys report", description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", type=Path, help="the sweep directory (one sub-directory per run)")
    p.add_argument("--out", type=Path, default=None, help="where to write the report (default: the sweep directory)")
    p.add_argument(
        "--metric", default=None, help="metric of the tables (default: accuracy, or rmse for regression benchmarks)"
    )
    p.add_argument(
        "--target",
        action="append",
        default=None,
        metavar="[ENV=]VALUE",
        help="experiment loops: report the labels each strategy needs to reach VALUE on ENV (default: --env, or the "
        "first scored environment); repeat for several environments",
    )
    p.add_argument("--env", default=None, help="experiment loops: the environment a bare --target VALUE is read on")
    return p


def _targets(items: list[str], env: str | None, p: argparse.ArgumentParser) -> dict:
    """``--target`` values ``[ENV=]VALUE`` as ``{env: value}`` (a bare value is read on ``env``; ``None``: the
    report's first scored environment, resolved there)."""
    out = {}
    for item in items:
        name, _, value = item.rpartition("=")
        try:
            out[name or env] = float(value)
        except ValueError:
            p.error(f"--target {item!r}: expected VALUE or ENV=VALUE with a number, e.g. test=0.7")
    return out


def main(argv=None) -> dict[str, Path]:
    """Parse ``argv`` (default ``sys.argv[1:]``), write the report, print it; returns ``{name: path}`` written."""
    p = parser()
    args = p.parse_args(argv)
    try:
        sweep = load_sweep(args.sweep_dir)
        if "kind" in sweep.runs.columns and (sweep.runs["kind"] == "active").any():
            if not (sweep.runs["kind"] == "active").all():
                raise SweepError(
                    f"{args.sweep_dir} mixes experiment loops (active=...) with training runs: report them apart"
                )
            written = write_active_report(
                sweep, args.out, metric=args.metric or "accuracy", targets=_targets(args.target or [], args.env, p)
            )
        else:
            if args.target or args.env:
                p.error("--target and --env are for sweeps of experiment loops (active=...); this sweep trains runs")
            written = write_report(args.sweep_dir, out_dir=args.out, metric=args.metric)
    except CausalPhysError as err:
        p.exit(1, f"{p.prog}: error: {err}\n")
    except PermissionError as err:  # a read-only sweep folder (a colleague's, an archive): write elsewhere
        where = args.out or args.sweep_dir
        p.exit(1, f"{p.prog}: error: cannot write the report into {where} ({err.strerror}): give --out DIR\n")
    print(written["report"].read_text(), end="")
    for name, path in written.items():
        print(f"wrote {name}: {path}", file=sys.stderr)
    return written


if __name__ == "__main__":
    main()
