"""The library of candidate terms for one node: what sparse regression chooses from.

For parents ``x_1, ..., x_p`` the library holds the constant ``1``, each ``x_i``, its powers ``x_i^2 ... x_i^d``,
the pairwise products ``x_i x_j`` (``i < j``), ``log x_i``, ``exp x_i`` and ``sqrt x_i``, and any user terms.
:meth:`TermLibrary.build` evaluates them on the data into the feature matrix ``Φ (n, k)`` and drops, with the reason
written down, each term the data do not allow: ``log`` of values ``<= 0``, ``sqrt`` of negatives, an ``exp`` whose
argument reaches ``max_exp_arg``, a column that is constant or equal to an earlier one, a term whose physical
dimension differs from the target's (when units are given, see :mod:`causalphys.discovery.units`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from causalphys.discovery.terms import CONSTANT, Term
from causalphys.discovery.units import Units, as_dimension, describe, same_dimension
from causalphys.errors import DimensionError, ParameterError

FUNCTIONS = ("log", "exp", "sqrt")


@dataclass(frozen=True)
class Features:
    """The library evaluated on data: ``terms`` (k), ``matrix`` ``Φ (n, k)`` (column ``j`` is ``terms[j]``),
    and ``dropped`` ``{term name: why it was left out}``."""

    terms: tuple[Term, ...]
    matrix: np.ndarray
    dropped: dict[str, str] = field(default_factory=dict)

    def index(self, name: str) -> int:
        for i, term in enumerate(self.terms):
            if term.name == name:
                return i
        raise KeyError(f"no term {name!r} in the library; terms are {[t.name for t in self.terms]}")


class TermLibrary:
    """Settings of the candidate-term library (module docstring).

    Parameters
    ----------
    degree : highest power ``x_i^d`` of each parent (1: the parents themselves only)
    interactions : include the pairwise products ``x_i x_j``
    functions : a subset of ``("log", "exp", "sqrt")`` applied to each parent
    terms : user terms (:class:`Term`, e.g. ``Term.parse("v**2/r")`` or ``Term.from_function(...)``); those
        whose variables are not all parents of the node are skipped for it
    constant : include the constant term ``1`` (the intercept)
    max_exp_arg : ``exp(x)`` is dropped when ``|x|`` reaches this on the data (it would overflow or swamp the fit)
    """

    def __init__(
        self,
        degree: int = 2,
        interactions: bool = True,
        functions: Sequence[str] = FUNCTIONS,
        terms: Sequence[Term] = (),
        constant: bool = True,
        max_exp_arg: float = 30.0,
    ):
        if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
            raise ParameterError(f"TermLibrary.degree must be an integer >= 1, got {degree!r}")
        unknown = sorted(set(functions) - set(FUNCTIONS))
        if unknown:
            raise ParameterError(f"TermLibrary.functions: unknown {unknown}; choose from {list(FUNCTIONS)}")
        bad = [t for t in terms if not isinstance(t, Term)]
        if bad:
            raise ParameterError(f"TermLibrary.terms must be Term objects, got {bad!r}")
        self.degree = degree
        self.interactions = interactions
        self.functions = tuple(functions)
        self.terms = tuple(terms)
        self.constant = constant
        self.max_exp_arg = float(max_exp_arg)

    def candidates(self, parents: Sequence[str]) -> list[Term]:
        """Every term for these parents, before looking at data (constant first, then by parent)."""
        symbols = [sp.Symbol(p) for p in parents]
        exprs: list[sp.Expr] = [sp.S.One] if self.constant else []
        for x in symbols:
            exprs += [x**k for k in range(1, self.degree + 1)]
        if self.interactions:
            exprs += [x * y for x, y in itertools.combinations(symbols, 2)]
        for name in self.functions:
            exprs += [getattr(sp, name)(x) for x in symbols]
        out = [CONSTANT if e == 1 else Term(str(e), e) for e in exprs]
        out += [t for t in self.terms if set(t.variables) <= set(parents)]
        return out

    def build(
        self,
        columns: Mapping[str, np.ndarray],
        parents: Sequence[str],
        *,
        target: str | None = None,
        units: Units | None = None,
    ) -> Features:
        """Evaluate the library on ``columns`` (``{name: (n,)}``) for a node with ``parents``.

        With ``units`` (``{variable: dimension}``, the target's included), terms whose dimension is not the
        ``target``'s are dropped (module docstring of :mod:`causalphys.discovery.units`).
        """
        missing = [p for p in parents if p not in columns]
        if missing:
            raise ParameterError(f"the data lack column(s) {missing} named as parents")
        want = None
        if units is not None:
            if target is None:
                raise ParameterError("TermLibrary.build: units are checked against a target; pass target=")
            want = as_dimension(units.get(target), name=f"the unit of {target}")
        kept: list[Term] = []
        cols: list[np.ndarray] = []
        dropped: dict[str, str] = {}
        for term in self.candidates(parents):
            reason = self._domain(term, columns)
            if reason is None and want is not None and not term.is_constant:
                reason = _dimension_mismatch(term, units, want, target)
            if reason is not None:
                dropped[term.name] = reason
                continue
            value = term.evaluate(columns)
            if not term.is_constant and np.ptp(value) == 0:
                dropped[term.name] = "constant on the data (collinear with the intercept)"
                continue
            twin = next((kept[i].name for i, c in enumerate(cols) if np.allclose(c, value, rtol=1e-12, atol=0)), None)
            if twin is not None:
                dropped[term.name] = f"equal to {twin} on the data"
                continue
            kept.append(term)
            cols.append(value)
        n = len(next(iter(columns.values())))
        matrix = np.column_stack(cols) if cols else np.zeros((n, 0))
        return Features(tuple(kept), matrix, dropped)

    def _domain(self, term: Term, columns: Mapping[str, np.ndarray]) -> str | None:
        """Why a built-in function term is outside the data's domain, or ``None``."""
        e = term.expr
        if term.func is not None or not e.args or not e.args[0].is_Symbol:
            return None
        var = str(e.args[0])
        x = np.asarray(columns[var], dtype=np.float64)
        if e.func is sp.log and x.min() <= 0:
            return f"log needs {var} > 0, but {var} takes values down to {x.min():.3g}"
        if e.func is sp.exp and np.abs(x).max() >= self.max_exp_arg:
            return f"exp({var}) would overflow or swamp the fit: |{var}| reaches {np.abs(x).max():.3g} (max_exp_arg)"
        if e.is_Pow and e.exp == sp.Rational(1, 2) and x.min() < 0:
            return f"sqrt needs {var} >= 0, but {var} takes values down to {x.min():.3g}"
        return None

    def __repr__(self) -> str:
        return (
            f"TermLibrary(degree={self.degree}, interactions={self.interactions}, functions={self.functions}, "
            f"terms={[t.name for t in self.terms]}, constant={self.constant})"
        )


def _dimension_mismatch(term: Term, units: Units, want, target: str) -> str | None:
    try:
        dim = term.dimension(units)
    except DimensionError as err:
        return str(err)
    if not same_dimension(dim, want):
        return f"dimension {describe(dim)}, but {target} has dimension {describe(want)}"
    return None
