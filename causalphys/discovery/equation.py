"""Candidate structural equations ``x = g(parents; θ) + u`` and their least-squares fits.

:class:`Equation` is the contract; :class:`TermEquation` is linear in its parameters, ``x = Σ_k c_k φ_k(parents) + u``
over library terms, fitted by ordinary least squares with standard errors ``se(c) = sqrt(diag(σ̂² (ΦᵀΦ)⁻¹))``,
``σ̂² = RSS / (n - k)``. The power law with free exponents is :class:`causalphys.discovery.powerlaw.PowerLaw`.
An equation built with :meth:`Equation.clone` has the same form and no fitted values: per-environment refits (the
invariance test) use it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import sympy as sp

from causalphys.discovery.terms import Term
from causalphys.errors import CausalPhysError, ParameterError

DIGITS = 4
"""Significant digits of the fitted numbers in a printed formula."""


class Equation:
    """One candidate equation for ``target``.

    Attributes after :meth:`fit`: ``params_`` (the fitted parameters, ``(n_params,)``), ``stderr_`` (their standard
    errors), ``rss_`` (the residual sum of squares) and ``n_`` (rows fitted).
    """

    kind = "equation"
    target: str
    variables: tuple[str, ...]

    @property
    def n_params(self) -> int:
        raise NotImplementedError

    @property
    def key(self) -> tuple:
        """What makes two equations the same form (their fitted numbers aside)."""
        raise NotImplementedError

    def fit(self, columns: Mapping[str, np.ndarray], y: np.ndarray) -> Equation:
        raise NotImplementedError

    def predict(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """``g(parents; θ̂)`` on the data, ``(n,)``."""
        raise NotImplementedError

    def formula(self, digits: int = DIGITS) -> sp.Expr:
        """``g(parents; θ̂)`` as a sympy expression with the fitted numbers rounded to ``digits``."""
        raise NotImplementedError

    def structure(self) -> str:
        """The form without fitted numbers: ``"c0 + c1*a**2"``."""
        raise NotImplementedError

    def clone(self) -> Equation:
        """The same form, unfitted."""
        new = copy.copy(self)
        for name in [k for k in vars(new) if k.endswith("_")]:
            delattr(new, name)
        return new

    def residuals(self, columns: Mapping[str, np.ndarray], y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float64) - self.predict(columns)

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise CausalPhysError(f"the equation {self.structure()} for {self.target!r} is not fitted; call fit first")

    def __str__(self) -> str:
        body = self.formula() if hasattr(self, "params_") else self.structure()
        return f"{self.target} = {body}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self})"


class TermEquation(Equation):
    """``target = Σ_k c_k φ_k(parents) + u``: a sparse selection of library terms (module docstring)."""

    kind = "terms"

    def __init__(self, target: str, terms: Sequence[Term]):
        if not terms:
            raise ParameterError(f"an equation for {target!r} needs at least one term")
        names = [t.name for t in terms]
        if len(set(names)) != len(names):
            raise ParameterError(f"the equation for {target!r} repeats a term: {names}")
        self.target = target
        self.terms = tuple(terms)
        self.variables = tuple(sorted({v for t in self.terms for v in t.variables}))

    @property
    def n_params(self) -> int:
        return len(self.terms)

    @property
    def key(self) -> tuple:
        return ("terms", frozenset(t.name for t in self.terms))

    @property
    def term_names(self) -> frozenset[str]:
        """The names of the non-constant terms (what "the same formula" compares)."""
        return frozenset(t.name for t in self.terms if not t.is_constant)

    def design(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """``Φ (n, k)``: the terms evaluated on the data."""
        return np.column_stack([t.evaluate(columns) for t in self.terms])

    def fit(self, columns, y):
        return self.fit_design(self.design(columns), y)

    def fit_design(self, phi: np.ndarray, y: np.ndarray) -> TermEquation:
        """Least squares on a precomputed design ``Φ (n, k)`` whose columns are this equation's terms."""
        y = np.asarray(y, dtype=np.float64)
        n, k = phi.shape
        if n <= k:
            raise ParameterError(f"cannot fit {k} coefficients of {self.structure()} on {n} rows")
        coef, *_ = np.linalg.lstsq(phi, y, rcond=None)
        rss = float(np.sum((y - phi @ coef) ** 2))
        cov = rss / (n - k) * np.linalg.pinv(phi.T @ phi)
        self.params_ = coef
        self.stderr_ = np.sqrt(np.clip(np.diag(cov), 0, None))
        self.rss_ = rss
        self.n_ = n
        return self

    def predict(self, columns):
        self._check_fitted()
        return self.design(columns) @ self.params_

    def coefficients(self) -> dict[str, tuple[float, float]]:
        """``{term name: (coefficient, standard error)}``."""
        self._check_fitted()
        return {t.name: (float(c), float(s)) for t, c, s in zip(self.terms, self.params_, self.stderr_)}

    def formula(self, digits: int = DIGITS):
        self._check_fitted()
        return sp.Add(*(sp.Float(c, digits) * t.expr for t, c in zip(self.terms, self.params_)))

    def structure(self) -> str:
        return " + ".join(f"c{i}" + ("" if t.is_constant else f"*{t.name}") for i, t in enumerate(self.terms))
