"""The one set of argument checks (causalphys.checks): bools are not ints, NaN and inf are not numbers, the label
is in the message, and the module sits at the package's bottom layer."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from causalphys import checks
from causalphys.errors import ParameterError

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    "check, value, expected",
    [
        (checks.integer, -3, -3),
        (checks.positive_int, 4, 4),
        (checks.nonnegative_int, 0, 0),
        (lambda label, v: checks.int_at_least(label, v, 2), 2, 2),
        (checks.finite_float, -1, -1.0),
        (checks.positive_float, 0.5, 0.5),
        (checks.positive_float, np.float32(2.0), 2.0),
        (checks.nonnegative_float, 0, 0.0),
        (checks.probability, 1, 1.0),
        (checks.fraction, 0.25, 0.25),
        (lambda label, v: checks.fraction(label, v, zero_ok=True), 0, 0.0),
        (checks.probability, 0.0, 0.0),
        (lambda label, v: checks.choice(label, v, ("a", "b")), "b", "b"),
        (checks.boolean, False, False),
    ],
)
def test_a_good_value_is_returned(check, value, expected):
    out = check("thing", value)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(
    "check, value, message",
    [
        (checks.integer, True, "must be an int, got True"),
        (checks.integer, 1.0, "must be an int, got 1.0"),
        (checks.positive_int, True, "must be a positive integer, got True"),
        (checks.positive_int, 0, "must be a positive integer, got 0"),
        (checks.positive_int, 2.0, "must be a positive integer, got 2.0"),
        (checks.positive_int, np.int64(3), "must be a positive integer, got"),
        (checks.nonnegative_int, False, "must be a non-negative integer, got False"),
        (checks.nonnegative_int, -1, "must be a non-negative integer, got -1"),
        (lambda label, v: checks.int_at_least(label, v, 2), 1, "must be an integer >= 2, got 1"),
        (checks.finite_float, INF, "must be a finite number, got inf"),
        (checks.finite_float, "1", "must be a finite number, got '1'"),
        (checks.positive_float, NAN, "must be a positive finite number, got nan"),
        (checks.positive_float, INF, "must be a positive finite number, got inf"),
        (checks.positive_float, 0, "must be a positive finite number, got 0"),
        (checks.positive_float, True, "must be a positive finite number, got True"),
        (checks.positive_float, "0.1", "must be a positive finite number, got '0.1'"),
        (checks.nonnegative_float, -0.5, "must be a non-negative finite number, got -0.5"),
        (checks.nonnegative_float, NAN, "must be a non-negative finite number, got nan"),
        (checks.probability, 1.2, r"must be a probability in \[0, 1\], got 1.2"),
        (checks.probability, NAN, r"must be a probability in \[0, 1\], got nan"),
        (checks.probability, True, r"must be a probability in \[0, 1\], got True"),
        (checks.fraction, 0, r"must be a number in \(0, 1\), got 0"),
        (checks.fraction, 1.0, r"must be a number in \(0, 1\), got 1.0"),
        (lambda label, v: checks.fraction(label, v, zero_ok=True), 1, r"must be a number in \[0, 1\), got 1"),
        (lambda label, v: checks.fraction(label, v, zero_ok=True), NAN, r"must be a number in \[0, 1\), got nan"),
        (lambda label, v: checks.choice(label, v, ("a", "b")), "c", r"must be one of \['a', 'b'\], got 'c'"),
        (checks.boolean, 1, "must be true or false, got 1"),
    ],
)
def test_a_bad_value_raises_a_parameter_error_naming_the_label(check, value, message):
    with pytest.raises(ParameterError, match=r"^the label " + message):
        check("the label", value)
    assert issubclass(ParameterError, ValueError)


@pytest.mark.parametrize("check", [checks.positive_int, checks.nonnegative_int, checks.positive_float])
def test_none_ok_lets_none_through_and_says_so(check):
    assert check("x", None, none_ok=True) is None
    with pytest.raises(ParameterError, match=r"^x must be .* or null, got -1$"):
        check("x", -1, none_ok=True)
    with pytest.raises(ParameterError, match="got None"):
        check("x", None)
    assert checks.int_at_least("x", None, 2, none_ok=True) is None


def test_the_module_imports_only_the_error_types():
    tree = ast.parse(Path(checks.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m for m in imported if m.startswith("causalphys")} == {"causalphys.errors"}
    assert not {m.split(".")[0] for m in imported} & {"torch", "numpy", "hydra", "omegaconf"}
