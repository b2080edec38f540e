"""Speed and peak memory of causalphys SCM sampling, against dowhy.gcm, in one process.

Prints one JSON document on stdout (progress goes to stderr)::

    python benchmarks/scm_sampling.py > bench.json        # full run
    python benchmarks/scm_sampling.py --quick             # smoke test

Cases: a 10-node linear-Gaussian chain (ours vs DoWhy, float64), the same chain with random-MLP mechanisms (ours
only, float32) and a chain of 64x64 image nodes (ours only: DoWhy's nodes are scalar DataFrame columns). Each
case times an observational draw, an intervention ``do(X0 := 1)`` and a counterfactual ``do(X0 := 1)`` of an
observed batch: best time of ``--repeats`` runs, and peak resident memory above the baseline during a run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import networkx as nx
import numpy as np
import pandas as pd
import torch
from procmem import reset_peak, settle, status_bytes, timed

import causalphys as cp

NODES = [f"X{i}" for i in range(10)]
EDGES = list(zip(NODES[:-1], NODES[1:]))
COEF = 0.8
OPS = ("draw", "intervention", "counterfactual")
NOTES = {
    "mlp_chain": "ours only: no DoWhy comparison for the MLP chain",
    "image_chain": "ours only: dowhy.gcm cannot hold image nodes (its nodes are scalar DataFrame columns)",
}
GOALS = {"draw_time_ours_over_dowhy": 1.0, "intervention_time_ours_over_dowhy": 0.5, "peak_over_output_ours": 2.0}


# -- memory --------------------------------------------------------------------------------------------------------
def output_bytes(result) -> int:
    if isinstance(result, pd.DataFrame):
        return int(result.memory_usage(deep=True).sum())
    tensors = list(result.values()) + list((getattr(result, "noise", None) or {}).values())  # a causalphys Batch
    return sum(t.nbytes for t in tensors)


def measure(op, repeats: int, peak_in_subprocess=None):
    """``(stats, result of the last run)``: best seconds and best peak bytes above the baseline (the smallest: glibc's
    heap fragmentation varies from run to run and only adds), output bytes."""
    times, peaks, result = timed(op, repeats)
    if peak_in_subprocess is not None:  # the in-process peaks are meaningless without the reset
        peaks = [peak_in_subprocess()]
    out = output_bytes(result)
    stats = {"seconds": min(times), "seconds_all": times, "peak_bytes": min(peaks), "peak_bytes_all": peaks}
    stats.update(output_bytes=out, peak_over_output=min(peaks) / out)
    return stats, result


# -- the models ----------------------------------------------------------------------------------------------------
def _scaled(parent: str):
    """``0.8 * parent`` for an Additive mechanism (parents arrive as keyword arguments named after them)."""
    return lambda **parents: COEF * parents[parent]


def ours_chain(kind: str) -> cp.SCM:
    if kind == "linear":
        root, mechs = cp.mech.Normal(), {c: cp.mech.Linear({p: COEF}) for p, c in EDGES}
    elif kind == "mlp":
        mlp = cp.mech.MLPMechanism
        root, mechs = cp.mech.Normal(), {c: mlp(hidden=(32,), noise=cp.noise.Normal()) for _, c in EDGES}
    else:  # 64x64 images
        root, noise = cp.mech.Normal(shape=(64, 64)), cp.noise.Normal(shape=(64, 64))
        mechs = {c: cp.mech.Additive(_scaled(p), noise=noise) for p, c in EDGES}
    return cp.SCM(EDGES, {NODES[0]: root, **mechs})


def dowhy_chain():
    """The linear chain as a dowhy.gcm model with known mechanisms."""
    from dowhy import gcm
    from scipy import stats

    class Scale(gcm.ml.PredictionModel):  # f(x) = 0.8 x, nothing to learn
        def fit(self, X, Y):
            pass

        def predict(self, X):
            return COEF * X.reshape(X.shape[0], -1)[:, :1]

        def clone(self):
            return Scale()

    model = gcm.InvertibleStructuralCausalModel(nx.DiGraph(EDGES))
    model.set_causal_mechanism(NODES[0], gcm.ScipyDistribution(stats.norm, loc=0, scale=1))
    for node in NODES[1:]:
        noise = gcm.ScipyDistribution(stats.norm, loc=0, scale=1)
        model.set_causal_mechanism(node, gcm.AdditiveNoiseModel(prediction_model=Scale(), noise_model=noise))
    # gcm refuses to sample from mechanisms never fitted to the graph. With fixed scipy parameters and the no-op
    # Scale.fit, fitting on a few rows changes nothing: it only records each node's parents.
    gcm.fit(model, pd.DataFrame(np.zeros((4, len(NODES))), columns=NODES))
    return model


def case_ops(case: str, n: int) -> dict:
    """``{(library, operation): (prepare, op)}``: ``prepare()`` builds the observed data a counterfactual starts from
    (outside the measurement), ``op()`` is what is measured."""
    kind = case.removesuffix("_chain")
    dtype = torch.float64 if kind == "linear" else torch.float32
    scm, data = ours_chain(kind), {}
    # do(X0 := 1). An image node is set to a 64x64 image of ones: a plain 1.0 would make X0 a scalar node.
    value = 1.0  # do(X0 := 1): a number fills a whole image node
    ops = {
        ("ours", "draw"): (None, lambda: scm.sample(n, seed=0, dtype=dtype)),
        ("ours", "intervention"): (None, lambda: scm.do(X0=value).sample(n, seed=0, dtype=dtype)),
        ("ours", "counterfactual"): (
            lambda: data.setdefault("batch", scm.sample(n, seed=1, dtype=dtype)),
            lambda: scm.counterfactual(data["batch"], do={"X0": value}),
        ),
    }
    if kind == "linear":
        from dowhy import gcm

        model, do_x0 = dowhy_chain(), {"X0": lambda x: 1.0}
        ops[("dowhy", "draw")] = (None, lambda: gcm.draw_samples(model, n))
        ops[("dowhy", "intervention")] = (None, lambda: gcm.interventional_samples(model, do_x0, num_samples_to_draw=n))
        ops[("dowhy", "counterfactual")] = (
            lambda: data.setdefault("df", gcm.draw_samples(model, n)),
            lambda: gcm.counterfactual_samples(model, do_x0, observed_data=data["df"]),
        )
        ops["ours_on_dowhy_units"] = lambda: scm.counterfactual(
            {k: torch.tensor(data["df"][k].to_numpy()) for k in NODES}, do={"X0": 1.0}
        )
    return ops


def peak_subprocess(case: str, key: tuple, args) -> int:
    """Fallback without clear_refs: the peak of one run of ``op`` in a fresh process (``--one``)."""
    cmd = [sys.executable, __file__, "--one", case, *key, "--n", str(args.n), "--image-n", str(args.image_n)]
    return int(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def run_case(case: str, n: int, args, use_subprocess: bool) -> dict:
    ops, operations, check = case_ops(case, n), {op: {} for op in OPS}, {}
    # ours and DoWhy back to back for each operation, so that both see the same machine load
    for key in sorted((k for k in ops if isinstance(k, tuple)), key=lambda k: OPS.index(k[1])):
        (lib, op), (prepare, fn) = key, ops[key]
        print(f"{case}: {lib} {op}", file=sys.stderr, flush=True)
        if prepare is not None:
            prepare()
        sub = (lambda key=key: peak_subprocess(case, key, args)) if use_subprocess else None
        operations[op][lib], result = measure(fn, args.repeats, sub)
        if op == "intervention":
            check[f"mean_X9_do_X0_1_{lib}"] = float(result["X9"].mean())
        if (lib, op) == ("dowhy", "counterfactual"):  # same units: both must invert the same equations exactly
            ours = ops["ours_on_dowhy_units"]()
            diff = max(float(np.abs(ours[k].numpy() - result[k].to_numpy()).max()) for k in NODES)
            check["counterfactual_max_abs_diff_same_units"] = diff
        del result
    out = {"n": n, "dtype": "float64" if case == "linear_chain" else "float32", "operations": operations}
    if case == "linear_chain":
        for op in OPS:
            operations[op]["time_ours_over_dowhy"] = (
                operations[op]["ours"]["seconds"] / operations[op]["dowhy"]["seconds"]
            )
        # E[X9 | do(X0 := 1)] = 0.8**9, Var = sum_k 0.64**k: allow 5 standard errors of a difference of two means.
        tol = 5 * math.sqrt(2 * sum(COEF ** (2 * k) for k in range(9)) / n)
        ours, theirs = check["mean_X9_do_X0_1_ours"], check["mean_X9_do_X0_1_dowhy"]
        check.update(expected=COEF**9, tolerance=tol, means_agree=max(abs(ours - theirs), abs(ours - COEF**9)) < tol)
        out["reference"] = "dowhy.gcm InvertibleStructuralCausalModel with the known linear mechanisms (not fitted)"
    else:
        out["reference"], out["note"] = None, NOTES[case]
    return {**out, "check": check}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="units of the scalar chains")
    parser.add_argument("--image-n", type=int, default=2000, help="units of the 64x64 image chain")
    parser.add_argument("--repeats", type=int, default=3, help="runs per operation; the best time is reported")
    parser.add_argument("--quick", action="store_true", help="smoke test: n=20000, image-n=200, repeats=1")
    parser.add_argument("--one", nargs=3, metavar=("CASE", "LIB", "OP"), help=argparse.SUPPRESS)  # fallback child
    args = parser.parse_args()
    if args.quick:
        args.n, args.image_n, args.repeats = 20_000, 200, 1
    import dowhy
    from dowhy import gcm

    gcm.config.disable_progress_bars()
    sizes = {"linear_chain": args.n, "mlp_chain": args.n, "image_chain": args.image_n}
    if args.one:  # fallback child: one run of one operation in this fresh process, print its peak
        case, *key = args.one
        prepare, fn = case_ops(case, sizes[case])[tuple(key)]
        if prepare is not None:
            prepare()
        settle()
        base = status_bytes("VmRSS")
        fn()
        print(max(status_bytes("VmHWM") - base, 0))  # an upper bound if prepare() peaked higher than the op
        return

    use_subprocess = not reset_peak()
    cases = {case: run_case(case, n, args, use_subprocess) for case, n in sizes.items()}
    lin = cases["linear_chain"]["operations"]
    mem = {f"{c}/{op}": cases[c]["operations"][op]["ours"]["peak_over_output"] for c in cases for op in OPS}
    worst = max(mem, key=mem.get)
    values = {
        "draw_time_ours_over_dowhy": lin["draw"]["time_ours_over_dowhy"],
        "intervention_time_ours_over_dowhy": lin["intervention"]["time_ours_over_dowhy"],
        "peak_over_output_ours": mem[worst],
    }
    doc = {
        "machine": dict(
            torch=torch.__version__,
            dowhy=dowhy.__version__,
            numpy=np.__version__,
            python=sys.version.split()[0],
            cpu_count=os.cpu_count(),
            torch_threads=torch.get_num_threads(),
        ),
        "settings": {"n": args.n, "image_n": args.image_n, "repeats": args.repeats, "quick": args.quick},
        "memory_method": (
            "subprocess: /proc/self/clear_refs not writable; peak = VmHWM - VmRSS around one run in a fresh process"
            if use_subprocess
            else "clear_refs: gc + malloc_trim, echo 5 > /proc/self/clear_refs, peak = VmHWM after - VmRSS before; "
            "smallest over the repeats"
        ),
        "cases": cases,
        "goals": {"targets": GOALS, "values": values, "peak_over_output_ours_worst_at": worst, "all": mem},
        "goals_met": {k: values[k] <= GOALS[k] for k in GOALS},
    }
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
