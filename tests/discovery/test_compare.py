import pandas as pd
import torch

import causalphys as cp
from causalphys.discovery import METHODS, compare_heldout

from .models import GRAPH, OBSERVED, frame, textbook_scm

HELDOUT = {"a": cp.mech.Normal(-1.0, 1.0), "b": cp.mech.Uniform(2.0, 3.0)}


def test_heldout_comparison_gives_tidy_rows_and_the_formula_extrapolates():
    train = frame(seed=2, n=250)
    test = cp.discovery.stack_environments(
        cp.Environments(textbook_scm(), {"heldout": HELDOUT}).sample(400, seed=5, dtype=torch.float64), OBSERVED
    )
    rows = compare_heldout(
        GRAPH, train, test, "env", interventions={"heldout": HELDOUT}, seed=0, run=7, n_samples=500,
        learner=cp.discovery.MechanismLearner(top=2),
    )  # fmt: skip
    table = pd.DataFrame(rows)
    assert list(table.columns) == ["run", "method", "env", "node", "metric", "value"]
    assert set(table["run"]) == {7} and set(table["env"]) == {"heldout"}
    rmse = table[table.metric == "rmse"].pivot(index="node", columns="method", values="value")
    assert set(rmse.columns) == set(METHODS) and set(rmse.index) == {"m", "y", "c"}
    assert rmse.loc["m", "symbolic"] < 0.35  # m's noise sd is 0.3: the formula a² extrapolates
    assert rmse.loc["y", "symbolic"] < 0.5 * rmse.loc["y", "linear_parents"]
    assert rmse.loc["y", "symbolic"] < rmse.loc["y", "boosting_all_others"]
    wasser = table[table.metric == "wasserstein"]
    assert set(wasser["method"]) == {"symbolic", "dowhy_gcm"} and set(wasser["node"]) == set(OBSERVED)
