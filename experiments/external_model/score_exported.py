"""A model the harness did not train, scored beside ERM, IRM and the oracle (causalphys issue 18).

The script trains nothing itself. The harness trains ERM, IRM and the oracle on the scanner-shift benchmark with
the severity sweep (``causalphys -m trainer=erm,irm,oracle save_model=true ...``: each run also writes its net,
``model.pt``); the script exports ERM's net to TorchScript — as a microscopist would hand us "their" model — and
scores that file with ``causalphys evaluate model=FILE shift=severity``, then prints the report's table. The
exported model is ERM's own net, so its row must equal ERM's: the printed difference checks that the external path
measures exactly what the harness measured.

    .venv/bin/python experiments/external_model/score_exported.py [--out results/external_model] [OVERRIDE ...]

Writes ``<out>/sweep/`` (the run folders, ``report.md``, ``severity.png``) and ``<out>/erm_torchscript.ts``.
Rerunning skips the finished runs. Extra Hydra overrides replace the defaults below: those of the benchmark, shift
and seed go to both commands (the same data for every run), the others (e.g. ``steps=20``) to the training runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

from causalphys.evaluation.external import MODEL_FILE, load_model
from causalphys.evaluation.harness import net_from_config
from causalphys.evaluation.report import DEFAULT_RULE, summary_table, write_report
from causalphys.evaluation.selection import choose, selected_rows
from causalphys.evaluation.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[2]
DATA = [  # the benchmark of `make demo` (conf/experiment/demo.yaml), seed 0: the same data for every run
    "benchmark.n_train=2000",
    "benchmark.n_val=400",
    "benchmark.n_test=600",
    "benchmark.n_counterfactual=200",
    "shift=severity",
    "seed=0",
]
TRAINING = ["trainer.batch_size=64", "steps=400", "progress=false"]


def _merge(base: list[str], extra: list[str]) -> list[str]:
    """``key=value`` overrides, those of ``extra`` replacing ``base``'s of the same key."""
    merged = {o.partition("=")[0]: o for o in base}
    merged.update({o.partition("=")[0]: o for o in extra})
    return list(merged.values())


def _causalphys(*args: str) -> None:
    command = [sys.executable, "-m", "causalphys.run", *args]
    print("$ causalphys " + " ".join(args), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def export_torchscript(run_dir: Path, path: Path) -> Path:
    """The net a run saved (``run_dir/model.pt``, the architecture from its ``run.json``), traced to TorchScript in
    eval mode and saved to ``path``."""
    config = json.loads((run_dir / "run.json").read_text())["config"]
    net = load_model(run_dir / MODEL_FILE, net=net_from_config(config["net"])).eval()
    size = config["benchmark"]["image_size"]
    with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; many labs still ship their nets so
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # GroupNorm's size check, not the data flow
        traced = torch.jit.trace(net, torch.zeros(2, 1, size, size))
    path.parent.mkdir(parents=True, exist_ok=True)
    traced.save(str(path))
    return path


def main(argv=None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/external_model"), help="the output folder")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides, e.g. benchmark.n_train=200 steps=20")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sweep = args.out / "sweep"
    data = _merge(DATA, [o for o in args.overrides if o.startswith(("benchmark.", "shift", "seed="))])
    training = _merge(TRAINING, [o for o in args.overrides if o not in data])
    _causalphys("-m", "trainer=erm,irm,oracle", "save_model=true", *data, *training, f"results_dir={sweep}")
    erm_run = next(p for p in sorted(sweep.glob("*trainer=erm")) if (p / MODEL_FILE).is_file())
    model = export_torchscript(erm_run, args.out / "erm_torchscript.ts")
    print(f"exported {erm_run / MODEL_FILE} to {model}", flush=True)
    _causalphys("evaluate", f"model={model}", *data, "progress=false", f"results_dir={sweep}")

    written = write_report(sweep)
    loaded = load_sweep(sweep)
    selected = selected_rows(loaded, choose(loaded)[0])
    chosen = selected[selected["selection"] == DEFAULT_RULE]
    print(f"\nAccuracy (%) on the scanner-shift benchmark, seed 0, {DEFAULT_RULE}:\n")
    print(summary_table(chosen, "accuracy"))
    rows = loaded.rows[loaded.rows["metric"] != "seconds"].set_index(["trainer", "env", "split", "metric"])["value"]
    gap = (rows.loc["erm_torchscript"] - rows.loc["erm"]).abs().max()
    print(f"\nlargest |erm_torchscript - erm| over every split and metric: {gap:.2g}")
    print(f"in {time.perf_counter() - started:.0f} s; report: {written['report']}")
    return written


if __name__ == "__main__":
    main()
