"""The invariance test of a candidate equation across environments, in the spirit of invariant causal prediction
(Peters, Bühlmann & Meinshausen 2016).

If ``x = g(pa; θ) + u`` is the node's structural equation and the environments do not intervene on the node itself,
then ``θ`` and the distribution of ``u`` are the same in every environment. For an equation fitted on the pooled data,
three tests look for a difference between the environments ``e = 1..E``:

- means of the residuals: one-way ANOVA ``F`` test (``scipy.stats.f_oneway``) or Kruskal-Wallis (``kruskal``);
- spread of the residuals: Brown-Forsythe (Levene's test about the median, ``scipy.stats.levene``);
- coefficients (Chow test): the equation refitted in each environment against the pooled fit,
  ``F = ((RSS_pooled - Σ_e RSS_e) / ((E - 1) k)) / (Σ_e RSS_e / (n - E k))`` with ``((E-1) k, n - E k)`` degrees
  of freedom, ``k`` parameters (for a power law, nonlinear, the same statistic is an approximation).

The equation's p-value is the Bonferroni combination ``min(1, m · min_i p_i)`` over the ``m`` tests that could run;
it is *accepted* as invariant when that p-value exceeds ``alpha``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from causalphys.discovery.equation import Equation
from causalphys.errors import CausalPhysError, ParameterError

MEAN_TESTS = ("anova", "kruskal")
ALPHA = 0.01
"""The default level. A wrong equation through a child or a proxy is rejected with p-values far below it (1e-50 on the
textbook SCM of experiments/equations); a stricter level keeps the true equation from chance rejections: each
candidate faces three tests, and a rejected true equation cannot be ranked first."""


@dataclass(frozen=True)
class InvarianceResult:
    """p-values of the three tests (NaN where a test could not run), their Bonferroni combination ``p_value``,
    the level ``alpha`` and the number of environments."""

    p_mean: float
    p_variance: float
    p_coefficients: float
    p_value: float
    alpha: float
    environments: int

    @property
    def accepted(self) -> bool:
        """Whether invariance is not rejected at level ``alpha``."""
        return bool(self.p_value > self.alpha)


def invariance_test(
    equation: Equation,
    columns: Mapping[str, np.ndarray],
    y: np.ndarray,
    environment: np.ndarray,
    *,
    alpha: float = ALPHA,
    mean_test: str = "anova",
) -> InvarianceResult:
    """Test the fitted ``equation`` (fitted on all rows of ``columns``/``y``) for invariance across the labels in
    ``environment`` (``(n,)``, one label per row) — module docstring."""
    if mean_test not in MEAN_TESTS:
        raise ParameterError(f"mean_test must be one of {list(MEAN_TESTS)}, got {mean_test!r}")
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha must lie in (0, 1), got {alpha}")
    environment = np.asarray(environment)
    y = np.asarray(y, dtype=np.float64)
    labels = list(dict.fromkeys(environment.tolist()))
    if len(labels) < 2:
        raise ParameterError(f"an invariance test needs at least two environments, got {labels}")
    resid = equation.residuals(columns, y)
    groups = [resid[environment == e] for e in labels]
    if min(len(g) for g in groups) < 3:
        raise ParameterError(f"each environment needs >= 3 rows; sizes are {[len(g) for g in groups]}")
    test = stats.f_oneway if mean_test == "anova" else stats.kruskal
    p_mean = _pvalue(test, groups)
    p_var = _pvalue(lambda *g: stats.levene(*g, center="median"), groups)
    p_coef = _chow(equation, columns, y, environment, labels)
    ps = [p for p in (p_mean, p_var, p_coef) if np.isfinite(p)]
    combined = min(1.0, len(ps) * min(ps)) if ps else float("nan")
    return InvarianceResult(p_mean, p_var, p_coef, combined, alpha, len(labels))


def _pvalue(test, groups) -> float:
    if all(np.ptp(g) == 0 for g in groups):
        return float("nan")
    return float(test(*groups).pvalue)


def _chow(equation: Equation, columns, y, environment, labels) -> float:
    """The Chow test's p-value (module docstring), NaN when an environment has too few rows or a refit fails."""
    k = equation.n_params
    n = len(y)
    rss_pooled = float(np.sum(equation.residuals(columns, y) ** 2))
    rss_split = 0.0
    for e in labels:
        rows = environment == e
        if rows.sum() <= k + 1:
            return float("nan")
        sub = {name: np.asarray(col)[rows] for name, col in columns.items()}
        try:
            refit = equation.clone().fit(sub, y[rows])
        except CausalPhysError:
            return float("nan")
        rss_split += refit.rss_
    df1, df2 = (len(labels) - 1) * k, n - len(labels) * k
    if df2 <= 0 or rss_split <= 0:
        return float("nan")
    f = max(rss_pooled - rss_split, 0.0) / df1 / (rss_split / df2)
    return float(stats.f.sf(f, df1, df2))
