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

**Noise whose level the environment sets** (``noise="free"``; the default ``"same"`` is the above). An instrument
often changes how noisy a measurement is without changing the law: a lower dose gives the same ``SNR ∝ dose^α`` with
a larger spread. Then ``u = σ_e ε`` with a per-environment scale ``σ_e``, and invariance means only that ``θ`` and
``E[u] = 0`` are the same everywhere. With ``noise="free"`` the spread test is not run, and the other two allow
``σ_e`` to differ:

- means of the residuals: the Alexander-Govern test (``scipy.stats.alexandergovern``), a one-way test of equal means
  that weights each environment by ``n_e / s_e²`` (its own variance) and does not assume equal variances;
- coefficients: a Chow test by weighted least squares. Each environment is refitted alone (``θ̂_e``, ``RSS_e``,
  ``r_e`` identified parameters, ``σ̂_e² = RSS_e / (n_e - r_e)``); the pooled equation is refitted with row weights
  ``1/σ̂_e²`` (``θ̂_w``, weighted residual sum ``Q_w``). Then
  ``W = Q_w - Σ_e RSS_e / σ̂_e² = Q_w - Σ_e (n_e - r_e)``, which for an equation linear in ``θ`` is the Wald
  statistic ``Σ_e (θ̂_e - θ̂_w)ᵀ V_e⁻¹ (θ̂_e - θ̂_w)``, ``V_e = σ̂_e² (Φ_eᵀΦ_e)⁻¹``: per-environment fits compared
  with their own covariances. Under invariance ``W ≈ χ²(q)``, ``q = Σ_e r_e - r_w``; the p-value is that of
  ``W / q`` against ``F(q, Σ_e (n_e - r_e))`` (which allows for the estimated ``σ̂_e²``; for a power law, nonlinear,
  an approximation again). Counting identified parameters (ranks, not ``k``) keeps the test right when the
  environment fixes a parent (``do(dose := d)``): each environment then identifies fewer parameters and the test
  becomes a weighted lack-of-fit test of the law through the per-environment means.

The price: a wrong equation whose only symptom is a change in residual spread across environments is no longer
caught. An equation through a child or a proxy of a hidden confounder is still rejected when the environments move
the child's or the proxy's noise, because its coefficients then move (``tests/discovery/test_invariance.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from causalphys.discovery.equation import Equation
from causalphys.errors import CausalPhysError, ParameterError

MEAN_TESTS = ("anova", "kruskal")
NOISE = ("same", "free")
ALPHA = 0.01
"""The default level. A wrong equation through a child or a proxy is rejected with p-values far below it (1e-50 on the
textbook SCM of experiments/equations); a stricter level keeps the true equation from chance rejections: each
candidate faces three tests, and a rejected true equation cannot be ranked first."""


@dataclass(frozen=True)
class InvarianceResult:
    """p-values of the three tests (NaN where a test could not run or, for the spread with ``noise="free"``, was not
    run), their Bonferroni combination ``p_value``, the level ``alpha``, the number of environments and the noise
    setting (module docstring)."""

    p_mean: float
    p_variance: float
    p_coefficients: float
    p_value: float
    alpha: float
    environments: int
    noise: str = "same"

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
    noise: str = "same",
) -> InvarianceResult:
    """Test the fitted ``equation`` (fitted on all rows of ``columns``/``y``) for invariance across the labels in
    ``environment`` (``(n,)``, one label per row) — module docstring.

    ``noise="same"``: the noise distribution is the same in every environment (means: ANOVA or Kruskal-Wallis;
    spread: Brown-Forsythe; coefficients: Chow). ``noise="free"``: its level may differ by environment (means:
    Alexander-Govern; no spread test; coefficients: the weighted Chow test). ``mean_test="kruskal"`` compares whole
    distributions, so it goes only with ``"same"``.
    """
    check_settings(alpha, mean_test, noise)
    environment = np.asarray(environment)
    y = np.asarray(y, dtype=np.float64)
    labels = list(dict.fromkeys(environment.tolist()))
    if len(labels) < 2:
        raise ParameterError(f"an invariance test needs at least two environments, got {labels}")
    resid = equation.residuals(columns, y)
    groups = [resid[environment == e] for e in labels]
    if min(len(g) for g in groups) < 3:
        raise ParameterError(f"each environment needs >= 3 rows; sizes are {[len(g) for g in groups]}")
    if noise == "same":
        test = stats.f_oneway if mean_test == "anova" else stats.kruskal
        p_mean = _pvalue(test, groups)
        p_var = _pvalue(lambda *g: stats.levene(*g, center="median"), groups)
        p_coef = _chow(equation, columns, y, environment, labels)
    else:
        p_mean = float("nan") if any(np.ptp(g) == 0 for g in groups) else _pvalue(stats.alexandergovern, groups)
        p_var = float("nan")
        p_coef = _weighted_chow(equation, columns, y, environment, labels)
    ps = [p for p in (p_mean, p_var, p_coef) if np.isfinite(p)]
    combined = min(1.0, len(ps) * min(ps)) if ps else float("nan")
    return InvarianceResult(p_mean, p_var, p_coef, combined, alpha, len(labels), noise)


def check_settings(alpha: float, mean_test: str, noise: str) -> None:
    """Name the invalid one of the invariance test's settings."""
    if mean_test not in MEAN_TESTS:
        raise ParameterError(f"mean_test must be one of {list(MEAN_TESTS)}, got {mean_test!r}")
    if noise not in NOISE:
        raise ParameterError(f"noise must be one of {list(NOISE)}, got {noise!r}")
    if noise == "free" and mean_test != "anova":
        raise ParameterError(
            f"mean_test={mean_test!r} compares whole residual distributions, which differ when the noise level does; "
            "with noise='free' use mean_test='anova' (the heteroscedastic Alexander-Govern test is then used)"
        )
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha must lie in (0, 1), got {alpha}")


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


def _weighted_chow(equation: Equation, columns, y, environment, labels) -> float:
    """The Chow test with a residual variance per environment (module docstring), NaN when an environment has too
    few rows, no residual spread, or a refit fails."""
    weights = np.empty(len(y))
    ranks, dof = 0, 0
    for e in labels:
        rows = environment == e
        sub = {name: np.asarray(col)[rows] for name, col in columns.items()}
        if rows.sum() <= equation.n_params + 1:
            return float("nan")
        try:
            refit = equation.clone().fit(sub, y[rows])
        except CausalPhysError:
            return float("nan")
        df_e = int(rows.sum()) - refit.rank_
        if df_e < 2 or refit.rss_ <= 0:
            return float("nan")
        weights[rows] = df_e / refit.rss_  # 1 / σ̂_e²
        ranks += refit.rank_
        dof += df_e
    try:
        pooled = equation.clone().fit(columns, y, weights=weights)
    except CausalPhysError:
        return float("nan")
    q = ranks - pooled.rank_
    if q <= 0:
        return float("nan")
    w = max(pooled.rss_ - dof, 0.0)  # Q_w - Σ_e RSS_e / σ̂_e²
    return float(stats.f.sf(w / q, q, dof))
