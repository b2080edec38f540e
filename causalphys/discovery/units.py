"""Physical dimensions of variables and terms, with :mod:`sympy.physics.units` doing the algebra.

A variable's dimension is a sympy ``Dimension`` (``length / time``) or a string sympy reads as one
(``"length/time**2"``, ``"mass"``); ``None``, ``1`` or ``""`` mean dimensionless. The dimension of a term
``φ(x_1, ..., x_p)`` is its sympy expression with each variable replaced by its dimension: ``x²·y`` with ``x`` a length
and ``y`` a time is ``length²·time``. sympy refuses ``log``/``exp`` of a dimensional argument, and so do we.

The rule for an equation ``x = Σ_k c_k φ_k(parents)`` (documented in :func:`check_units`): every coefficient ``c_k`` is
dimensionless, so every term must have the target's dimension; the constant term is an offset in the target's unit.
A power law ``x = c · Π x_i^{a_i}`` is the exception: its prefactor ``c`` is a dimensional constant by construction
(a material constant), so it is not checked.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.physics.units import Dimension
from sympy.physics.units.systems.si import dimsys_SI

from causalphys.errors import DimensionError, ParameterError

DIMENSIONLESS = Dimension(1)

Units = Mapping[str, "Dimension | str | None"]


def as_dimension(value: Dimension | str | int | None, *, name: str = "a unit") -> Dimension:
    """``value`` as a sympy ``Dimension``: a ``Dimension``, a string such as ``"length/time"``, or ``None``/``1``/``""``
    for a dimensionless quantity."""
    if isinstance(value, Dimension):
        return value
    if value is None or value == 1 or value == "":
        return DIMENSIONLESS
    if isinstance(value, str):
        try:
            dim = Dimension(sp.sympify(value))
            dimsys_SI.get_dimensional_dependencies(dim)
        except (sp.SympifyError, TypeError, ValueError) as err:
            raise ParameterError(
                f"{name}: cannot read {value!r} as a physical dimension; write it with SI base dimensions, "
                "e.g. 'length/time**2', 'mass', 'temperature'"
            ) from err
        return dim
    raise ParameterError(f"{name} must be a sympy Dimension or a string such as 'length/time', got {value!r}")


def dimension_of(expr: sp.Expr, units: Units) -> Dimension:
    """The dimension of the sympy expression ``expr`` whose free symbols are variables named in ``units``.

    Raises :class:`DimensionError` when a function (``log``, ``exp``) gets a dimensional argument, and
    :class:`ParameterError` when a variable has no unit.
    """
    missing = sorted(str(s) for s in expr.free_symbols if str(s) not in units)
    if missing:
        raise ParameterError(f"no unit given for variable(s) {missing} of {expr}; units name {sorted(units)}")
    subs = {}
    for symbol in expr.free_symbols:
        dim = as_dimension(units[str(symbol)], name=f"the unit of {symbol}")
        subs[symbol] = dim.name if dim != DIMENSIONLESS else sp.S.One
    try:
        dim = Dimension(expr.subs(subs))
        dimsys_SI.get_dimensional_dependencies(dim)
    except TypeError as err:
        raise DimensionError(f"{expr} applies a function to a dimensional quantity ({err})") from err
    return dim


def same_dimension(a: Dimension, b: Dimension) -> bool:
    """Whether ``a`` and ``b`` are the same dimension in the SI system (``length/time·time == length``)."""
    return bool(dimsys_SI.equivalent_dims(a, b))


def describe(dim: Dimension) -> str:
    """``dim`` as text: ``'length/time'``, ``'dimensionless'``."""
    deps = dimsys_SI.get_dimensional_dependencies(dim)
    return "dimensionless" if not deps else str(dim.name)


def check_units(terms: Mapping[str, sp.Expr], target: str, units: Units) -> None:
    """Raise :class:`DimensionError` unless every term of ``x_target = Σ_k c_k φ_k`` has the target's dimension.

    ``terms`` maps each term's name to its sympy expression in the variables; the constant term (the expression
    ``1``) is exempt: it is an offset in the target's unit. The message names every inconsistent term with its
    dimension and the target's.
    """
    want = as_dimension(units.get(target), name=f"the unit of {target}")
    bad = []
    for name, expr in terms.items():
        if expr == 1:
            continue
        try:
            dim = dimension_of(sp.sympify(expr), units)
        except DimensionError as err:
            bad.append(f"{name}: {err}")
            continue
        if not same_dimension(dim, want):
            bad.append(f"{name} has dimension {describe(dim)}")
    if bad:
        raise DimensionError(
            f"the equation for {target!r} is dimensionally inconsistent: {target!r} has dimension {describe(want)} "
            f"(coefficients are dimensionless), but " + "; ".join(bad)
        )
