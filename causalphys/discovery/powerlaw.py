"""Power laws with free exponents: ``x = c · Π_i x_i^{a_i} + u`` over positive parents.

The exponents are fitted, not chosen from a grid: a log-log least-squares fit
``log|x| = log|c| + Σ_i a_i log x_i`` (on the rows where ``x`` has the sign of its median) gives the starting point,
then nonlinear least squares on the original scale (``scipy.optimize.curve_fit``, the additive noise of the
structural equation) gives ``(c, a_1, ..., a_p)`` and their standard errors from the estimated covariance
``σ̂² (JᵀJ)⁻¹``. The prefactor ``c`` carries whatever physical dimension the law needs (see
:mod:`causalphys.discovery.units`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import sympy as sp
from scipy.optimize import curve_fit

from causalphys.discovery.equation import DIGITS, Equation
from causalphys.errors import CausalPhysError, DomainError, ParameterError


class PowerLaw(Equation):
    """``target = c · Π_i x_i^{a_i} + u`` (module docstring). ``params_`` is ``(c, a_1, ..., a_p)`` in the order of
    ``variables``; :meth:`exponents` pairs each exponent with its standard error."""

    kind = "power_law"

    def __init__(self, target: str, variables: Sequence[str], max_iter: int = 2000):
        if not variables:
            raise ParameterError(f"a power law for {target!r} needs at least one variable")
        self.target = target
        self.variables = tuple(sorted(variables))
        self.max_iter = max_iter

    @property
    def n_params(self) -> int:
        return 1 + len(self.variables)

    @property
    def key(self) -> tuple:
        return ("power_law", self.variables)

    def _logs(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        cols = []
        for v in self.variables:
            x = np.asarray(columns[v], dtype=np.float64)
            if x.min() <= 0:
                raise DomainError(
                    f"the power law for {self.target!r} needs {v} > 0, but {v} takes values down to {x.min():.3g} "
                    f"({int((x <= 0).sum())} of {len(x)} rows)"
                )
            cols.append(np.log(x))
        return np.column_stack(cols)

    def fit(self, columns, y):
        y = np.asarray(y, dtype=np.float64)
        logs = self._logs(columns)
        n, p = logs.shape
        if n <= p + 1:
            raise ParameterError(f"cannot fit the {p + 1} parameters of {self.structure()} on {n} rows")
        sign = 1.0 if np.median(y) >= 0 else -1.0
        rows = sign * y > 0
        if rows.sum() <= p + 1:
            raise DomainError(f"the power law for {self.target!r} needs {self.target} of one sign; too few rows are")
        design = np.column_stack([np.ones(int(rows.sum())), logs[rows]])
        start, *_ = np.linalg.lstsq(design, np.log(sign * y[rows]), rcond=None)
        p0 = np.concatenate([[sign * np.exp(start[0])], start[1:]])

        def model(z, c, *a):
            return c * np.exp(z @ np.asarray(a))

        try:
            params, cov = curve_fit(lambda z, *theta: model(z, *theta), logs, y, p0=p0, maxfev=self.max_iter)
        except (RuntimeError, ValueError) as err:
            raise CausalPhysError(f"the power law {self.structure()} did not converge: {err}") from err
        self.params_ = params
        self.stderr_ = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else np.full(p + 1, np.nan)
        self.rss_ = float(np.sum((y - model(logs, *params)) ** 2))
        self.n_ = n
        return self

    def predict(self, columns):
        self._check_fitted()
        return self.params_[0] * np.exp(self._logs(columns) @ self.params_[1:])

    def exponents(self) -> dict[str, tuple[float, float]]:
        """``{variable: (exponent, standard error)}``."""
        self._check_fitted()
        return {v: (float(a), float(s)) for v, a, s in zip(self.variables, self.params_[1:], self.stderr_[1:])}

    def formula(self, digits: int = DIGITS):
        self._check_fitted()
        powers = [sp.Symbol(v) ** sp.Float(a, digits) for v, a in zip(self.variables, self.params_[1:])]
        return sp.Float(self.params_[0], digits) * sp.Mul(*powers)

    def structure(self) -> str:
        return "c*" + "*".join(f"{v}**a_{v}" for v in self.variables)
