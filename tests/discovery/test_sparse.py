import math

import numpy as np

from causalphys.discovery import MechanismLearner, TermLibrary, bic, candidate_supports
from causalphys.discovery.sparse import stlsq_supports


def polynomial(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    return {"x": x, "z": z}, 1.0 + 1.5 * x**2 - 2.0 * x * z + 0.1 * rng.normal(size=n)


def test_best_support_by_bic_is_the_true_polynomial():
    data, y = polynomial()
    features = TermLibrary(functions=()).build(data, ["x", "z"])
    best = candidate_supports(features, y)[0]
    assert {features.terms[i].name for i in best.columns} == {"1", "x**2", "x*z"}


def test_stlsq_path_contains_the_true_support():
    data, y = polynomial()
    features = TermLibrary(functions=()).build(data, ["x", "z"])
    true = tuple(sorted(features.index(k) for k in ("1", "x**2", "x*z")))
    assert true in stlsq_supports(features.matrix, y)


def test_learner_recovers_the_coefficients_with_one_environment():
    data, y = polynomial()
    learner = MechanismLearner(TermLibrary(functions=()), power_laws=False).fit({**data, "y": y}, "y", ["x", "z"])
    eq = learner.best_.equation
    assert eq.term_names == {"x**2", "x*z"}
    coef = eq.coefficients()
    for name, want in (("1", 1.0), ("x**2", 1.5), ("x*z", -2.0)):
        value, se = coef[name]
        assert abs(value - want) < 4 * se < 0.1, (name, value, se)
    assert learner.best_.invariance is None  # one environment: no test
    assert str(eq.formula(2)) in {"1.5*x**2 - 2.0*x*z + 1.0", "1.5*x**2 - 2.0*x*z + 0.99", "1.5*x**2 - 2.0*x*z + 1.01"}


def test_bic():
    assert math.isclose(bic(2.0, 100, 3), 100 * math.log(0.02) + 3 * math.log(100))


def test_ebic_charges_for_the_supports_searched():
    from causalphys.discovery.sparse import ebic

    assert ebic(2.0, 100, 3, 30, 2, 0.0) == bic(2.0, 100, 3)
    assert math.isclose(ebic(2.0, 100, 3, 30, 2, 1.0), bic(2.0, 100, 3) + 2 * math.log(math.comb(30, 2)))
