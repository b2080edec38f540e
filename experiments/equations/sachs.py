"""Equations for Erk and Akt from the Sachs et al. (2005) conditions: which survive the invariance test, and how a
fitted symbolic SCM transfers to held-out conditions against ``dowhy.gcm`` and plain regression.

Data: ``sachs_14conditions.csv`` (``--data``, or ``$CAUSALPHYS_SACHS``, default ``../shared/data/sachs/``), the main
nine conditions, ``log(x)`` of the raw intensities. Graph: the 17 arcs of Sachs et al. 2005, Fig. 3A (a DAG; the
consensus graphs have a cycle PIP2 -> PIP3 -> PLCg -> PIP2 and cannot be an SCM as they stand).

1. **Equations that survive**: for Erk and for Akt, the mechanism learner (:class:`causalphys.discovery.
   MechanismLearner`) over every other protein as a candidate parent (a linear-and-square library in the logs, at
   most ``--max-terms`` terms), its candidates tested for invariance across the training conditions; the table lists
   the first ``--top`` with their p-values.
2. **Transfer**: the graph's SCM fitted on the training conditions (:func:`causalphys.discovery.fit_scm`), DoWhy's
   auto-assigned models and plain regressions (:func:`causalphys.discovery.compare_heldout`), each node's RMSE on
   every held-out condition given its parents (or every other node, for the regressions that use them).

    python experiments/equations/sachs.py [--out experiments/equations/sachs]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

import causalphys as cp
from causalphys.atomic import write_atomic, write_text

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "sachs" / "sachs_14conditions.csv"
PROTEINS = ["Raf", "Mek", "PLCg", "PIP2", "PIP3", "Erk", "Akt", "PKA", "PKC", "P38", "JNK"]
TARGETS = ("Erk", "Akt")
MAIN = (1, 2, 3, 4, 5, 6, 7, 8, 9)
HELDOUT = (4, 6)  # G06976 (PKC inhibitor), U0126 (MEK inhibitor): ordinary regression fails worst on these
GRAPH_FILE = "graph_bnlearn_sachs2005_17.csv"


def load(path: Path, conditions=MAIN) -> pd.DataFrame:
    """The cells of ``conditions``: ``log(x)`` of every protein (raw intensities, all >= 1) and ``env`` (the
    condition id as a string)."""
    if not path.is_file():
        raise FileNotFoundError(f"no Sachs CSV at {path}: pass --data or set $CAUSALPHYS_SACHS")
    raw = pd.read_csv(path)
    raw = raw[raw["condition_id"].isin(conditions)]
    frame = np.log(raw[PROTEINS].astype(float)).reset_index(drop=True)
    frame["env"] = raw["condition_id"].astype(str).to_numpy()
    return frame


def reference_graph(folder: Path) -> cp.CausalGraph:
    edges = pd.read_csv(folder / GRAPH_FILE)
    return cp.CausalGraph(list(zip(edges["cause"], edges["effect"])))


def learner(max_terms: int) -> cp.discovery.MechanismLearner:
    """Linear and square terms of the log intensities (a power law in the raw ones), at most ``max_terms`` terms of at
    most two parents (readable equations); no products, no log/exp/sqrt of logs, no separate power laws (logs can be
    negative)."""
    library = cp.discovery.TermLibrary(degree=2, interactions=False, functions=())
    return cp.discovery.MechanismLearner(library, max_terms=max_terms, max_parents=2, power_laws=False)


def surviving_equations(frame: pd.DataFrame, graph: cp.CausalGraph, max_terms: int, top: int) -> pd.DataFrame:
    """For each target, the learner's ranking over every other protein as a candidate parent, tested across the
    conditions of ``frame``: the first ``top`` rows, with which of their parents the reference graph calls parents."""
    rows = []
    for target in TARGETS:
        others = [p for p in PROTEINS if p != target]
        fitted = learner(max_terms).fit(frame, target, others, environment="env")
        table = fitted.table(limit=top)
        table.insert(0, "target", target)
        table["graph_parents"] = ",".join(sorted(graph.parents(target)))
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


def by_condition(frame: pd.DataFrame, graph: cp.CausalGraph, max_terms: int) -> pd.DataFrame:
    """For each target, the learner's best equation in its reference-graph parents, fitted on every condition: the
    residual mean and spread per condition, and the invariance p-value across the conditions left when each one in
    turn is left out (refitted on those) — which condition breaks the equation."""
    rows = []
    for target in TARGETS:
        parents = sorted(graph.parents(target))
        fitted = learner(max_terms).fit(frame, target, parents, environment="env")
        equation = fitted.best_.equation
        columns = {p: frame[p].to_numpy() for p in parents}
        y, env = frame[target].to_numpy(), frame["env"].to_numpy()
        resid = equation.residuals(columns, y)
        everything = fitted.best_.invariance.p_value
        for condition in sorted(set(env), key=int):
            keep = env != condition
            kept = {p: c[keep] for p, c in columns.items()}
            refit = equation.clone().fit(kept, y[keep])
            test = cp.discovery.invariance_test(refit, kept, y[keep], env[keep], alpha=fitted.alpha)
            rows.append(
                {
                    "target": target,
                    "formula": str(equation.formula()),
                    "condition": int(condition),
                    "residual_mean": float(resid[env == condition].mean()),
                    "residual_sd": float(resid[env == condition].std(ddof=1)),
                    "p_all_conditions": everything,
                    "p_without_this_condition": test.p_value,
                }
            )
    return pd.DataFrame(rows)


def transfer(frame: pd.DataFrame, graph: cp.CausalGraph, max_terms: int, seed: int) -> list[dict]:
    """``compare_heldout`` on the graph: train on the main conditions but :data:`HELDOUT`, score on each held-out
    condition (RMSE of every node given its parents, or given every other node for the regressions)."""
    held = frame["env"].isin([str(c) for c in HELDOUT])
    return cp.discovery.compare_heldout(
        graph, frame[~held], frame[held], "env", learner=learner(max_terms), seed=seed, run=seed, threads=1
    )


def markdown(survivors: pd.DataFrame, conditions: pd.DataFrame, rows: list[dict], seconds: float) -> str:
    out = ["# Equations for Erk and Akt from the Sachs conditions", ""]
    out.append(
        "`experiments/equations/sachs.py`: log intensities of the main nine conditions; the reference graph is Sachs "
        f"et al. 2005, Fig. 3A ({GRAPH_FILE}). Invariance at level {learner(3).alpha} across the conditions."
    )
    for target in TARGETS:
        part = survivors[survivors["target"] == target]
        accepted = part[part["invariant"] == True]  # noqa: E712 (pandas column of bools)
        out += ["", f"## {target} (reference-graph parents: {part['graph_parents'].iloc[0]})", ""]
        out.append(
            f"{len(accepted)} of the first {len(part)} candidates pass the invariance test across the nine conditions."
        )
        out += ["", "| rank | formula | parents | invariant | p (combined) | p means | p spread | p coefficients |"]
        out.append("|---|---|---|---|---|---|---|---|")
        for r in part.itertuples():
            out.append(
                f"| {r.rank} | `{r.formula}` | {r.parents} | {r.invariant} | {r.p_value:.2g} | {r.p_mean:.2g} | "
                f"{r.p_variance:.2g} | {r.p_coefficients:.2g} |"
            )
    for target, part in conditions.groupby("target", sort=False):
        out += ["", f"## {target}: the reference graph's equation, condition by condition", ""]
        out.append(
            f"`{part['formula'].iloc[0]}` (the learner's best in the reference parents); invariance p across all nine "
            f"conditions {part['p_all_conditions'].iloc[0]:.2g}."
        )
        out += ["", "| condition | residual mean | residual sd | p without this condition |", "|---|---|---|---|"]
        for r in part.itertuples():
            out.append(
                f"| {r.condition} | {r.residual_mean:+.3f} | {r.residual_sd:.3f} | {r.p_without_this_condition:.2g} |"
            )
    table = pd.DataFrame(rows)
    rmse = table[(table["metric"] == "rmse") & table["node"].isin(TARGETS)]
    pivot = rmse.pivot_table(index=["node", "env"], columns="method", values="value")
    held = ", ".join(str(c) for c in HELDOUT)
    out += ["", f"## Transfer to held-out conditions {held} (RMSE of the log intensity given the inputs)", ""]
    methods = [m for m in cp.discovery.METHODS if m in pivot.columns]
    out += ["| node | condition | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for (node, env), values in pivot.iterrows():
        out.append(f"| {node} | {env} | " + " | ".join(f"{values[m]:.3f}" for m in methods) + " |")
    out += ["", f"{seconds:.0f} s on one thread."]
    return "\n".join(out) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("CAUSALPHYS_SACHS", str(DEFAULT_DATA))
    parser.add_argument("--data", type=Path, default=Path(default), help="sachs_14conditions.csv")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "equations" / "sachs")
    parser.add_argument("--max-terms", type=int, default=3)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.time()
    frame = load(args.data)
    graph = reference_graph(args.data.parent)
    with threadpool_limits(limits=1):
        survivors = surviving_equations(frame, graph, args.max_terms, args.top)
        conditions = by_condition(frame, graph, args.max_terms)
        rows = transfer(frame, graph, args.max_terms, args.seed)
    seconds = time.time() - started
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "survivors.csv", lambda f: survivors.to_csv(f, index=False))
    write_atomic(args.out / "conditions.csv", lambda f: conditions.to_csv(f, index=False))
    write_atomic(args.out / "transfer.csv", lambda f: pd.DataFrame(rows).to_csv(f, index=False))
    write_text(args.out / "results.md", markdown(survivors, conditions, rows, seconds))
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
