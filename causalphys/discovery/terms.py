"""A candidate term ``φ(parents)`` of a structural equation ``x = Σ_k c_k φ_k(parents) + u``.

A term has a name, a sympy expression in the parents' symbols (what the printed formula shows) and a way to compute
it on data: the expression itself (``sympy.lambdify`` to numpy), or a user's function of the parent columns. A
user's function is opaque to sympy, so its physical dimension is given with it (``units``) rather than derived.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np
import sympy as sp

from causalphys.discovery.units import Units, as_dimension, dimension_of
from causalphys.errors import DimensionError, DomainError, ParameterError
from causalphys.scm.mechanism import call_signature


@functools.lru_cache(maxsize=4096)
def _lambdify(expr: sp.Expr, variables: tuple[str, ...]) -> Callable[..., np.ndarray]:
    return sp.lambdify([sp.Symbol(v) for v in variables], expr, "numpy")


class Term:
    """One candidate term.

    Parameters
    ----------
    name : how the term is listed (built-in terms use ``str(expr)``: ``"a**2"``, ``"a*b"``, ``"exp(b)"``)
    expr : sympy expression in the variables' symbols (or a string sympy parses, ``"x*exp(-y)"``)
    func : optional ``func(**columns) -> array (n,)`` that computes the term, its arguments named after the
        variables it uses; without it the expression is evaluated (``sympy.lambdify``)
    units : the term's physical dimension, needed only for a ``func`` when the learner checks units (an expression's
        dimension is derived from its variables' units)
    """

    def __init__(
        self,
        name: str,
        expr: sp.Expr | str,
        func: Callable[..., np.ndarray] | None = None,
        units: object | None = None,
    ):
        self.name = str(name)
        try:
            self.expr = sp.sympify(expr)
        except sp.SympifyError as err:
            raise ParameterError(f"term {name!r}: cannot read the expression {expr!r}") from err
        self.func = func
        self.units = units
        if func is not None:
            accepted, _ = call_signature(func)
            if accepted is None:
                raise ParameterError(f"term {name!r}: its function must name the variables it uses, not take **kwargs")
            self.variables = tuple(sorted(accepted))
        else:
            self.variables = tuple(sorted(str(s) for s in self.expr.free_symbols))

    @classmethod
    def parse(cls, text: str) -> Term:
        """A term from a formula, named by it: ``Term.parse("v**2/r")``."""
        expr = sp.sympify(text)
        return cls(str(expr), expr)

    @classmethod
    def from_function(cls, name: str, func: Callable[..., np.ndarray], units: object | None = None) -> Term:
        """A user term: ``func(**columns)`` names the variables it uses; printed as ``name(variables)``."""
        accepted, _ = call_signature(func)
        variables = sorted(accepted or ())
        return cls(name, sp.Function(name)(*[sp.Symbol(v) for v in variables]), func=func, units=units)

    @property
    def is_constant(self) -> bool:
        return not self.variables

    def evaluate(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The term on the data, ``(n,)`` float64; :class:`DomainError` naming the term if it is not finite."""
        missing = [v for v in self.variables if v not in columns]
        if missing:
            raise ParameterError(f"term {self.name!r} needs column(s) {missing}, which the data lack")
        n = len(next(iter(columns.values())))
        args = {v: np.asarray(columns[v], dtype=np.float64) for v in self.variables}
        with np.errstate(all="ignore"):
            if self.func is not None:
                out = self.func(**args)
            else:
                out = _lambdify(self.expr, self.variables)(*(args[v] for v in self.variables))
        out = np.broadcast_to(np.asarray(out, dtype=np.float64), (n,))
        bad = ~np.isfinite(out)
        if bad.any():
            raise DomainError(
                f"term {self.name!r} is NaN or inf on {int(bad.sum())} of {n} rows (first at row {int(np.argmax(bad))})"
                f"; check its domain (log and sqrt need positive values, exp overflows past ~700)"
            )
        return np.array(out)

    def dimension(self, units: Units):
        """The term's physical dimension given the variables' ``units`` (a sympy ``Dimension``)."""
        if self.units is not None:
            return as_dimension(self.units, name=f"the units of term {self.name!r}")
        if self.func is not None:
            raise DimensionError(
                f"term {self.name!r} is a user function without units: give Term.from_function(..., units=...) "
                "so that its dimension can be checked"
            )
        return dimension_of(self.expr, units)

    def __repr__(self) -> str:
        return f"Term({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Term) and (self.name, self.expr) == (other.name, other.expr)

    def __hash__(self) -> int:
        return hash((self.name, self.expr))


CONSTANT = Term("1", sp.S.One)
"""The constant term (the intercept)."""
