import numpy as np
import pytest

import causalphys as cp
from causalphys.discovery import Term, TermLibrary


def columns(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=n), "z": rng.uniform(0.5, 2.0, n)}


def test_candidates_are_named_after_their_formulas():
    names = [t.name for t in TermLibrary(degree=3).candidates(["x", "z"])]
    assert names == [
        "1", "x", "x**2", "x**3", "z", "z**2", "z**3", "x*z",
        "log(x)", "log(z)", "exp(x)", "exp(z)", "sqrt(x)", "sqrt(z)",
    ]  # fmt: skip
    assert [t.name for t in TermLibrary(degree=1, interactions=False, functions=()).candidates(["x"])] == ["1", "x"]


def test_build_evaluates_terms_and_drops_log_and_sqrt_of_negative_values_with_the_reason():
    data = columns()
    features = TermLibrary().build(data, ["x", "z"])
    names = [t.name for t in features.terms]
    assert "log(z)" in names and "sqrt(z)" in names
    assert "log(x)" not in names and "sqrt(x)" not in names
    assert "log needs x > 0" in features.dropped["log(x)"]
    assert "sqrt needs x >= 0" in features.dropped["sqrt(x)"]
    assert features.matrix.shape == (200, len(names))
    np.testing.assert_allclose(features.matrix[:, features.index("x*z")], data["x"] * data["z"])
    np.testing.assert_allclose(features.matrix[:, features.index("exp(z)")], np.exp(data["z"]))


def test_build_drops_overflowing_exp_and_columns_equal_to_earlier_ones():
    rng = np.random.default_rng(1)
    data = {"big": rng.uniform(0, 100, 50), "flag": rng.integers(0, 2, 50).astype(float)}
    features = TermLibrary(max_exp_arg=30).build(data, ["big", "flag"])
    assert "max_exp_arg" in features.dropped["exp(big)"]
    assert features.dropped["flag**2"] == "equal to flag on the data"  # 0² = 0, 1² = 1
    assert "sqrt(flag)" in features.dropped


def test_user_terms_from_a_function_or_a_formula():
    data = columns()
    drag = Term.from_function("drag", lambda x: x * np.abs(x))
    ratio = Term.parse("x/z")
    features = TermLibrary(degree=1, functions=(), terms=[drag, ratio]).build(data, ["x", "z"])
    assert [t.name for t in features.terms] == ["1", "x", "z", "x*z", "drag", "x/z"]
    np.testing.assert_allclose(features.matrix[:, 4], data["x"] * np.abs(data["x"]))
    np.testing.assert_allclose(features.matrix[:, 5], data["x"] / data["z"])
    assert str(drag.expr) == "drag(x)"
    # a user term over a variable that is not a parent is skipped for this node
    assert "x/z" not in [t.name for t in TermLibrary(terms=[ratio]).candidates(["x"])]


def test_a_user_term_that_is_not_finite_names_itself():
    bad = Term.from_function("inverse", lambda x: 1.0 / (x - x))
    with pytest.raises(cp.DomainError, match="term 'inverse' is NaN or inf on 200 of 200 rows"):
        TermLibrary(terms=[bad]).build(columns(), ["x"])


def test_bad_settings_are_named():
    with pytest.raises(cp.ParameterError, match="degree"):
        TermLibrary(degree=0)
    with pytest.raises(cp.ParameterError, match="tan"):
        TermLibrary(functions=("tan",))
    with pytest.raises(cp.ParameterError, match=r"lack column\(s\) \['w'\]"):
        TermLibrary().build(columns(), ["w"])
