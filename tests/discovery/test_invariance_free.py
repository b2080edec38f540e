"""The invariance test with ``noise="free"``: the environments may set the noise level (an instrument's dose), the
law stays the same (causalphys/discovery/invariance.py)."""

import numpy as np
import pytest
from scipy import stats

import causalphys as cp
from causalphys.discovery import MechanismLearner, PowerLaw, Term, TermEquation, invariance_test

from .models import OBSERVED, frame

NOISE_LEVELS = (0.05, 0.2, 0.6)  # the environment's instrument sets the noise level


def heteroscedastic(seed=0, n=150, shift=0.0):
    """``y = 2 x^1.5 + σ_e ε``: one law, a noise level per environment; ``shift`` moves y's mean in the last one
    (an intervention on y itself)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(1, 3, n) + 0.5 * e for e in range(len(NOISE_LEVELS))])
    env = np.repeat(np.arange(len(NOISE_LEVELS)), n)
    y = 2 * x**1.5 + np.asarray(NOISE_LEVELS)[env] * rng.normal(size=len(x)) + shift * (env == 2)
    return {"x": x, "y": y, "env": env}


@pytest.mark.parametrize("form", ["power_law", "terms"])
def test_a_law_whose_noise_level_the_environment_sets_is_accepted_only_with_free_noise(form):
    data = heteroscedastic()
    eq = PowerLaw("y", ["x"]) if form == "power_law" else TermEquation("y", [Term.parse("x**1.5")])
    eq.fit({"x": data["x"]}, data["y"])
    same = invariance_test(eq, {"x": data["x"]}, data["y"], data["env"])
    free = invariance_test(eq, {"x": data["x"]}, data["y"], data["env"], noise="free")
    assert not same.accepted and same.p_variance < 1e-10  # the spread test sees the noise levels
    assert free.accepted and np.isnan(free.p_variance) and free.noise == "free"
    assert min(free.p_mean, free.p_coefficients) > 0.05


def test_free_noise_still_detects_an_intervention_on_the_target():
    data = heteroscedastic(shift=0.5)
    eq = PowerLaw("y", ["x"]).fit({"x": data["x"]}, data["y"])
    assert not invariance_test(eq, {"x": data["x"]}, data["y"], data["env"], noise="free").accepted


def test_the_learner_with_free_noise_puts_the_law_first():
    data = heteroscedastic()
    same = MechanismLearner().fit(data, "y", ["x"], environment="env")
    free = MechanismLearner(noise="free").fit(data, "y", ["x"], environment="env")
    assert not same.best_.invariant
    best = free.best_
    assert best.invariant and best.r2 > 0.99
    assert best.equation.kind == "power_law" or best.equation.term_names == {"x**1.5"}
    assert "r2" in free.table().columns


def test_the_weighted_chow_statistic_is_the_wald_test_of_per_environment_fits():
    """For a linear equation ``W = Σ_e (θ̂_e - θ̂_w)ᵀ V_e⁻¹ (θ̂_e - θ̂_w)`` with ``V_e = σ̂_e² (Φ_eᵀΦ_e)⁻¹`` and
    ``θ̂_w`` the precision-weighted mean; ``W / q ~ F(q, Σ_e (n_e - k))``."""
    data = heteroscedastic(seed=3, n=40)
    eq = TermEquation("y", [Term.parse("1"), Term.parse("x")])
    cols = {"x": data["x"]}
    eq.fit(cols, data["y"])
    fits, precisions = [], []
    for e in range(len(NOISE_LEVELS)):
        rows = data["env"] == e
        phi = np.column_stack([np.ones(rows.sum()), data["x"][rows]])
        theta, rss, *_ = np.linalg.lstsq(phi, data["y"][rows], rcond=None)
        fits.append(theta)
        precisions.append(phi.T @ phi / (rss[0] / (rows.sum() - 2)))
    pooled = np.linalg.solve(sum(precisions), sum(p @ t for p, t in zip(precisions, fits)))
    wald = sum((t - pooled) @ p @ (t - pooled) for p, t in zip(precisions, fits))
    q, dof = 2 * (len(NOISE_LEVELS) - 1), len(data["y"]) - 2 * len(NOISE_LEVELS)
    expected = stats.f.sf(wald / q, q, dof)
    result = invariance_test(eq, cols, data["y"], data["env"], noise="free")
    assert result.p_coefficients == pytest.approx(expected, rel=1e-6)


def test_with_free_noise_the_child_and_the_proxy_are_still_rejected_and_the_cause_ranked_first():
    data = frame(seed=0, n=400)
    columns = {k: data[k].to_numpy() for k in OBSERVED}
    env = data["env"].to_numpy()
    for terms in [("c",), ("b*m", "exp(b)", "c"), ("b*m", "exp(b)", "p")]:
        eq = TermEquation("y", [Term.parse("1"), *map(Term.parse, terms)]).fit(columns, columns["y"])
        result = invariance_test(eq, columns, columns["y"], env, noise="free")
        assert not result.accepted and result.p_coefficients < 1e-6, (terms, result)  # their coefficients move
    learner = MechanismLearner(top=3, noise="free").fit(data, "y", ["m", "b", "c", "p"], environment="env")
    assert learner.best_.equation.term_names == {"b*m", "exp(b)"} and learner.best_.invariant
    assert not any(c.invariant for c in learner.candidates_ if {"c", "p"} & set(c.equation.variables))


def test_a_parent_the_environment_fixes_is_counted_by_rank():
    """``do(dose := d)`` per environment: each refit identifies one parameter of ``c·dose^α``, the test becomes a
    lack-of-fit test through the per-environment means (q = E - 2)."""
    rng = np.random.default_rng(1)
    dose = np.repeat([1e3, 3e3, 1e4, 3e4], 30)
    snr = 0.02 * dose**0.5 * (1 + 0.05 * rng.normal(size=len(dose)))  # spread ∝ signal
    law = PowerLaw("snr", ["dose"]).fit({"dose": dose}, snr)
    assert law.rank_ == 2 and law.stderr_issue_ is None
    result = invariance_test(law, {"dose": dose}, snr, dose, noise="free")
    assert result.accepted and np.isfinite(result.p_coefficients)
    wrong = TermEquation("snr", [Term.parse("1"), Term.parse("dose")]).fit({"dose": dose}, snr)
    assert not invariance_test(wrong, {"dose": dose}, snr, dose, noise="free").accepted


def test_bad_noise_settings_are_named():
    data = heteroscedastic(n=20)
    eq = PowerLaw("y", ["x"]).fit({"x": data["x"]}, data["y"])
    with pytest.raises(cp.ParameterError, match="noise must be one of"):
        invariance_test(eq, {"x": data["x"]}, data["y"], data["env"], noise="other")
    with pytest.raises(cp.ParameterError, match="kruskal"):
        invariance_test(eq, {"x": data["x"]}, data["y"], data["env"], noise="free", mean_test="kruskal")
    with pytest.raises(cp.ParameterError, match="noise must be one of"):
        MechanismLearner(noise="hetero").fit(data, "y", ["x"], environment="env")
