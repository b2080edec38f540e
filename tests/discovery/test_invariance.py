import numpy as np
import pytest
import torch

import causalphys as cp
from causalphys.discovery import MechanismLearner, Term, TermEquation, invariance_test

from .models import ENVIRONMENTS, OBSERVED, frame, textbook_scm


@pytest.fixture(scope="module")
def data():
    return frame(seed=0, n=400)


@pytest.fixture(scope="module")
def learner(data):
    return MechanismLearner(top=3).fit(data, "y", ["m", "b", "c", "p"], environment="env")


def invariance_of(data, *terms: str):
    columns = {k: data[k].to_numpy() for k in OBSERVED}
    eq = TermEquation("y", [Term.parse("1"), *map(Term.parse, terms)]).fit(columns, columns["y"])
    return invariance_test(eq, columns, columns["y"], data["env"].to_numpy())


def test_the_causal_equation_is_accepted(data):
    result = invariance_of(data, "b*m", "exp(b)")
    assert result.accepted and result.environments == 4
    assert min(result.p_mean, result.p_variance, result.p_coefficients) > 0.05


def test_equations_through_the_child_or_the_confounded_proxy_are_rejected(data):
    for terms in [("c",), ("b*m", "exp(b)", "c"), ("b*m", "exp(b)", "p")]:
        result = invariance_of(data, *terms)
        assert not result.accepted and result.p_value < 1e-6, (terms, result)


def test_an_equation_missing_a_cause_is_rejected(data):
    assert not invariance_of(data, "b*m").accepted


def test_an_intervention_on_the_target_itself_is_detected():
    envs = cp.Environments(textbook_scm(), {**ENVIRONMENTS, "y_shifted": {"y": {"shift": 0.5}}})
    data = cp.discovery.stack_environments(envs.sample(400, seed=0, dtype=torch.float64), OBSERVED)
    assert not invariance_of(data, "b*m", "exp(b)").accepted


def test_the_learner_ranks_the_causal_formula_first_and_rejects_the_better_fitting_spurious_ones(learner):
    best = learner.best_
    assert best.equation.term_names == {"b*m", "exp(b)"} and best.invariant
    coef = best.equation.coefficients()
    assert abs(coef["b*m"][0] - 1.0) < 0.05 and abs(coef["exp(b)"][0] - 0.5) < 0.1
    by_fit = min(learner.candidates_, key=lambda c: c.bic)
    assert {"c", "p"} & set(by_fit.equation.variables) and by_fit.bic < best.bic - 1000
    spurious = [c for c in learner.candidates_ if {"c", "p"} & set(c.equation.variables)]
    assert spurious and not any(c.invariant for c in spurious)
    table = learner.table()
    assert list(table.columns[:4]) == ["rank", "formula", "kind", "parents"]
    assert table.loc[0, "parents"] == "b,m" and bool(table.loc[0, "invariant"])


def test_one_environment_is_not_enough(data):
    columns = {k: data[k].to_numpy() for k in OBSERVED}
    eq = TermEquation("y", [Term.parse("1"), Term.parse("b*m")]).fit(columns, columns["y"])
    with pytest.raises(cp.ParameterError, match="at least two environments"):
        invariance_test(eq, columns, columns["y"], np.zeros(len(data)))
    with pytest.raises(cp.ParameterError, match="mean_test"):
        invariance_test(eq, columns, columns["y"], data["env"].to_numpy(), mean_test="t")
