"""Peak memory and time of one IRM Colored MNIST run: causalphys beside the IRM authors' reference script.

Each side runs in a fresh process, one after the other, with the IRM paper's hyper-parameters (hidden 390, 501
full-batch steps, penalty 91257 from step 190, one restart); the peak resident memory (``ru_maxrss``, imports and
data included), the minor page faults, the CPU seconds and the wall seconds of that process are read with
``os.wait4``. Both sides use 2 torch threads and the same MNIST file.

The reference is the authors' ``code/colored_mnist/main.py`` (facebookresearch/InvariantRiskMinimization), run
unchanged: it downloads MNIST through torchvision and moves tensors with ``.cuda()``, so its process gets a small
stand-in ``torchvision.datasets.MNIST`` that reads the local ``mnist.npz`` and a ``.cuda()`` that returns the tensor
(CPU), nothing else. Point ``--reference`` at a copy of that file (``fetch`` the repository; it is not kept here).

    .venv/bin/python benchmarks/colored_mnist_memory.py --reference PATH/main.py [--mnist PATH] [--steps 501]

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = ROOT.parent / "shared" / "data" / "mnist" / "mnist.npz"
sys.path.insert(0, str(ROOT))
from experiments.colored_mnist.run import IRM_SETTINGS  # noqa: E402  (the IRM README's hyper-parameters)

# the same settings under the reference script's flag names
IRM_FLAGS = dict(
    hidden_dim=IRM_SETTINGS["hidden"],
    l2_regularizer_weight=IRM_SETTINGS["l2"],
    lr=IRM_SETTINGS["lr"],
    penalty_anneal_iters=IRM_SETTINGS["penalty_anneal_steps"],
    penalty_weight=IRM_SETTINGS["penalty_weight"],
)

# Runs inside the reference's process: a torchvision stand-in with the local MNIST, .cuda() as a no-op, then the
# script itself with its own argv.
REFERENCE_SHIM = r"""
import runpy, sys, types
import numpy as np
import torch
torch.set_num_threads(2)
mnist_path, script = sys.argv[1], sys.argv[2]
class MNIST:
    def __init__(self, root, train=True, download=False):
        with np.load(mnist_path) as d:
            self.data = torch.from_numpy(d["x_train"].copy())
            self.targets = torch.from_numpy(d["y_train"].copy()).long()
datasets = types.ModuleType("torchvision.datasets")
datasets.MNIST = MNIST
tv = types.ModuleType("torchvision")
tv.datasets = datasets
sys.modules["torchvision"] = tv
sys.modules["torchvision.datasets"] = datasets
torch.Tensor.cuda = lambda self, *a, **k: self
torch.nn.Module.cuda = lambda self, *a, **k: self
sys.argv = [script] + sys.argv[3:]
runpy.run_path(script, run_name="__main__")
"""

OURS = r"""
import sys
import torch
torch.set_num_threads(2)
sys.path.insert(0, sys.argv[1])
from experiments.colored_mnist.run import METHODS, run
import causalphys as cp
images, digits = cp.data.load_mnist(sys.argv[2])
rows = run("irm", 0, images, digits, max_steps=int(sys.argv[3]))
print({r["env"]: round(r["value"], 4) for r in rows if r["metric"] == "accuracy"})
"""


def measure(argv: list[str]) -> dict:
    """Run ``argv`` to the end; its own peak RSS, minor faults and times (not its parent's or siblings')."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:3]} failed:\n{out[-3000:]}")
    return {
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "minor_page_faults": usage.ru_minflt,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_s": round(wall, 1),
        "output_tail": out.strip().splitlines()[-1] if out.strip() else "",
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="the IRM authors' code/colored_mnist/main.py")
    parser.add_argument("--mnist", type=Path, default=Path(os.environ.get("CAUSALPHYS_MNIST", DEFAULT_MNIST)))
    parser.add_argument("--steps", type=int, default=501)
    args = parser.parse_args(argv)
    if not args.reference.is_file():
        raise SystemExit(f"--reference {args.reference}: no such file (the authors' code/colored_mnist/main.py)")
    if not args.mnist.is_file():
        raise SystemExit(f"--mnist {args.mnist}: no such file (an mnist.npz with x_train, y_train)")
    env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    os.environ.update(env)
    ref_flags = [f"--{k}={v}" for k, v in IRM_FLAGS.items()] + ["--n_restarts=1", f"--steps={args.steps}"]
    results = {
        "causalphys": measure([sys.executable, "-c", OURS, str(ROOT), str(args.mnist), str(args.steps)]),
        "reference": measure(
            [sys.executable, "-c", REFERENCE_SHIM, str(args.mnist), str(args.reference.resolve())] + ref_flags
        ),
    }
    results["ratio_peak_rss"] = round(results["causalphys"]["peak_rss_mb"] / results["reference"]["peak_rss_mb"], 3)
    results["ratio_cpu"] = round(results["causalphys"]["cpu_s"] / results["reference"]["cpu_s"], 3)
    results["setting"] = {"steps": args.steps, "threads": 2, "machine": platform.machine(), **IRM_FLAGS}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
