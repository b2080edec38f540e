"""Candidate structural equations ``x = g(parents; θ) + u`` and their least-squares fits.

:class:`Equation` is the contract; :class:`TermEquation` is linear in its parameters, ``x = Σ_k c_k φ_k(parents) + u``
over library terms, fitted by ordinary least squares with standard errors ``se(c) = sqrt(diag(σ̂² (ΦᵀΦ)⁻¹))``,
``σ̂² = RSS / (n - k)``. With row weights ``w`` (``(n,)``, positive) the fit is weighted least squares: it minimises
``Σ_i w_i (x_i - g(pa_i; θ))²``, ``RSS`` is that weighted sum and ``se(c) = sqrt(diag(σ̂² (ΦᵀWΦ)⁻¹))``.
The power law with free exponents is :class:`causalphys.discovery.powerlaw.PowerLaw`.
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
    errors; NaN where they could not be estimated, and then ``stderr_issue_`` says why, else it is ``None``),
    ``rss_`` (the residual sum of squares, weighted when the fit was), ``n_`` (rows fitted) and ``rank_`` (how many
    parameters the data identify: the rank of the column-normalised design, or of the Jacobian for a nonlinear
    equation; less than ``n_params`` when, e.g., a parent is constant over the rows fitted).
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

    def fit(self, columns: Mapping[str, np.ndarray], y: np.ndarray, weights: np.ndarray | None = None) -> Equation:
        """Least squares on ``columns`` (``{name: (n,)}``) and ``y`` ``(n,)``; weighted by ``weights`` ``(n,)``
        (positive) when given (module docstring)."""
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

    def fit(self, columns, y, weights=None):
        return self.fit_design(self.design(columns), y, weights)

    def fit_design(self, phi: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> TermEquation:
        """(Weighted) least squares on a precomputed design ``Φ (n, k)`` whose columns are this equation's terms."""
        y = np.asarray(y, dtype=np.float64)
        n, k = phi.shape
        if n <= k:
            raise ParameterError(f"cannot fit {k} coefficients of {self.structure()} on {n} rows")
        root = np.ones(n) if weights is None else np.sqrt(check_weights(weights, n))
        phi_w, y_w = phi * root[:, None], y * root
        coef, *_ = np.linalg.lstsq(phi_w, y_w, rcond=None)
        rss = float(np.sum((y_w - phi_w @ coef) ** 2))
        cov = rss / (n - k) * np.linalg.pinv(phi_w.T @ phi_w)
        self.params_ = coef
        self.stderr_ = np.sqrt(np.clip(np.diag(cov), 0, None))
        self.stderr_issue_ = None
        self.rss_ = rss
        self.n_ = n
        self.rank_ = normalized_rank(phi)
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


def check_weights(weights, n: int) -> np.ndarray:
    """``weights`` as ``(n,)`` float64, each finite and positive."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        bad = int(np.sum(~(np.isfinite(w) & (w > 0))))
        raise ParameterError(f"weights must be {n} finite positive numbers; got shape {w.shape}, {bad} not so")
    return w


def normalized_rank(matrix: np.ndarray) -> int:
    """The rank of ``matrix`` ``(n, k)`` with each non-zero column scaled to unit norm (so that columns on very
    different scales, ``dose`` and ``dose²``, do not hide each other from numpy's relative tolerance)."""
    norms = np.linalg.norm(matrix, axis=0)
    cols = matrix[:, norms > 0] / norms[norms > 0]
    return int(np.linalg.matrix_rank(cols)) if cols.size else 0
