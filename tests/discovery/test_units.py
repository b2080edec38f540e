import numpy as np
import pytest
import sympy as sp
from sympy.physics.units import length, time

import causalphys as cp
from causalphys.discovery import MechanismLearner, Term, TermLibrary, check_units, dimension_of

UNITS = {"v": length / time, "r": length, "acc": "length/time**2", "k": None}


def test_dimension_of_a_term_follows_its_variables():
    assert dimension_of(sp.sympify("v**2/r"), UNITS) == cp.discovery.as_dimension("length/time**2")
    assert dimension_of(sp.sympify("k**2"), UNITS) == cp.discovery.as_dimension(None)
    with pytest.raises(cp.DimensionError, match="dimensional"):
        dimension_of(sp.sympify("log(r)"), UNITS)


def test_check_units_accepts_a_consistent_formula_and_names_each_inconsistent_term():
    check_units({"1": 1, "v**2/r": "v**2/r", "k*v**2/r": "k*v**2/r"}, "acc", UNITS)
    with pytest.raises(cp.DimensionError) as err:
        check_units({"v**2/r": "v**2/r", "v": "v", "exp(r)": "exp(r)"}, "acc", UNITS)
    message = str(err.value)
    assert "'acc' has dimension length/time**2" in message
    assert "v has dimension length/time" in message and "exp(r)" in message
    assert "v**2/r has" not in message


def test_unreadable_unit_is_a_parameter_error():
    with pytest.raises(cp.ParameterError, match="cannot read 'furlongs per' as a physical dimension"):
        cp.discovery.as_dimension("furlongs per")


def test_the_learner_with_units_keeps_only_terms_of_the_target_dimension():
    rng = np.random.default_rng(0)
    n = 300
    v, r = rng.uniform(1, 3, n), rng.uniform(0.5, 2, n)
    data = {"v": v, "r": r, "acc": v**2 / r + 0.05 * rng.normal(size=n)}
    library = TermLibrary(terms=[Term.parse("v**2/r"), Term.parse("v/r")])
    learner = MechanismLearner(library, units=UNITS, power_laws=False).fit(data, "acc", ["v", "r"])
    assert [t.name for t in learner.features_.terms] == ["1", "v**2/r"]
    assert "dimension length/time, but acc has dimension length/time**2" in learner.dropped_["v"]
    assert "v/r" in learner.dropped_ and "log(r)" in learner.dropped_
    assert learner.best_.equation.term_names == {"v**2/r"}
    # the same data without units: other terms are candidates and fit too
    free = MechanismLearner(library, power_laws=False).fit(data, "acc", ["v", "r"])
    assert len(free.features_.terms) > 5
