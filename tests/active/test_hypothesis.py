"""Hypothesis learning: its pieces against hand-made cases (policy, reward, record, max-variance point), a run on a
noiseless line, reproducibility, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.gaussian_process.kernels import ConstantKernel, DotProduct

from causalphys.active import (
    Hypothesis,
    HypothesisLearner,
    MeasurementError,
    choose_hypothesis,
    discrimination,
    log_evidences,
    symmetric_kl,
    uncertainty_reward,
    update_record,
)
from causalphys.errors import CausalPhysError

FIXED = dict(sigma_0=0.0, sigma_0_bounds="fixed")
GRID = np.linspace(0.0, 1.0, 41)[:, None]


def line_hypotheses() -> list[Hypothesis]:
    """none: an offset; drift: offset + slope x; wiggle: offset + a sin 2π3x + b cos 2π3x; weights ~ N(0, 1)."""
    offset = ConstantKernel(1.0, (1e-6, 1e3))
    mechanism = ConstantKernel(1.0, "fixed") * DotProduct(**FIXED)

    def wiggle(x):
        return np.hstack([np.sin(2 * np.pi * 3 * x), np.cos(2 * np.pi * 3 * x)])

    return [
        Hypothesis("none", offset, n_restarts=0),
        Hypothesis("drift", offset + mechanism, n_restarts=0),
        Hypothesis("wiggle", offset + mechanism, wiggle, n_restarts=0),
    ]


def line(x):
    return 0.3 + 2.0 * float(x[0])


def test_epsilon_zero_picks_the_argmax():
    rng = np.random.default_rng(0)
    picks = {choose_hypothesis([0.2, 0.9, 0.5], rng, "epsilon_greedy", epsilon=0.0) for _ in range(50)}
    assert picks == {1}


def test_epsilon_greedy_breaks_ties_at_random_and_epsilon_one_is_uniform():
    rng = np.random.default_rng(0)
    ties = [choose_hypothesis([0.9, 0.1, 0.9], rng, "epsilon_greedy", epsilon=0.0) for _ in range(200)]
    assert set(ties) == {0, 2}
    uniform = np.bincount([choose_hypothesis([1.0, 0.0, 0.0], rng, "epsilon_greedy", epsilon=1.0) for _ in range(600)])
    assert len(uniform) == 3 and uniform.min() > 150


def test_softmax_at_a_very_low_temperature_is_greedy_and_at_a_high_one_uniform():
    rng = np.random.default_rng(1)
    assert {choose_hypothesis([0.2, 0.3, 0.25], rng, "softmax", temperature=1e-4) for _ in range(50)} == {1}
    counts = np.bincount([choose_hypothesis([0.2, 0.3, 0.25], rng, "softmax", temperature=1e4) for _ in range(900)])
    assert counts.min() > 240  # p ≈ 1/3 each


def test_reward_is_one_exactly_when_the_uncertainty_falls():
    assert uncertainty_reward(None, 0.5) is None
    assert uncertainty_reward(0.5, 0.4) == 1.0
    assert uncertainty_reward(0.5, 0.5) == 0.0
    assert uncertainty_reward(0.5, 0.6) == 0.0


def test_record_is_the_running_average_of_the_rewards():
    record, count = 0.0, 0
    for r in (1.0, 0.0, 1.0, 1.0):
        record, count = update_record(record, count, r)
    assert count == 4 and record == pytest.approx(0.75)


def test_record_with_a_step_size_weighs_recent_rewards_geometrically():
    """R <- R + a (r - R), starting from the first reward itself: after 1, 1, 0, 0 at a = 0.5 the record is
    0.25, while the sample average is 0.5; a = 1 keeps the last reward only."""
    record, count = 0.0, 0
    seen = []
    for r in (1.0, 1.0, 0.0, 0.0):
        record, count = update_record(record, count, r, step_size=0.5)
        seen.append(record)
    assert count == 4 and seen == [1.0, 1.0, 0.5, 0.25]
    assert update_record(0.7, 3, 0.0, step_size=1.0) == (0.0, 4)
    assert update_record(0.0, 0, 0.0, step_size=0.5) == (0.0, 1)


def test_a_step_size_lets_the_record_follow_a_change_of_leader():
    """Rewards 1 for the first half of a hypothesis's turns and 0 after (it led early, then lost the lead): the
    sample average still says 0.5, the recency-weighted record has fallen below a rival rewarded 1 in its last turns."""
    early = late = 0.0
    ce = cl = 0
    for turn in range(20):
        early, ce = update_record(early, ce, 1.0 if turn < 10 else 0.0, step_size=0.3)
        late, cl = update_record(late, cl, 0.0 if turn < 10 else 1.0, step_size=0.3)
    assert early == pytest.approx(0.7**10) and late == pytest.approx(1 - 0.7**10)  # 0.03 and 0.97
    average = 0.0
    for turn in range(20):
        average, _ = update_record(average, turn, 1.0 if turn < 10 else 0.0)
    assert average == pytest.approx(0.5)


def test_max_variance_point_of_a_linear_model_is_at_an_end_of_the_interval():
    drift = line_hypotheses()[1].fit(np.array([[0.4], [0.5], [0.6]]), np.array([1.0, 1.2, 1.4]))
    _, std = drift.predict(GRID, include_noise=False)
    assert int(np.argmax(std)) in (0, len(GRID) - 1)
    assert std.argmin() in range(16, 25)  # least uncertain among the data, near x = 0.5


def test_predictive_std_with_noise_adds_the_fitted_noise():
    drift = line_hypotheses()[1].fit(GRID[::4], np.sin(3 * GRID[::4, 0]))
    _, total = drift.predict(GRID)
    _, latent = drift.predict(GRID, include_noise=False)
    np.testing.assert_allclose(total**2, latent**2 + drift.noise_level_, rtol=1e-6, atol=1e-12)


def test_evidence_prefers_the_true_mechanism_on_noiseless_data():
    x = GRID[::3]
    y = np.array([line(p) for p in x])
    evidences = log_evidences(line_hypotheses(), x, y)
    assert int(np.argmax(evidences)) == 1


def test_a_noiseless_line_is_won_by_the_drift_hypothesis():
    result = HypothesisLearner(line_hypotheses(), policy="epsilon_greedy", epsilon=0.1, seed=3).run(line, GRID, 20)
    assert result.winner == "drift" and result.names[int(np.argmax(result.evidences))] == "drift"
    assert result.records[-1][1] == result.records[-1].max()
    np.testing.assert_allclose(result.posterior_mean, 0.3 + 2.0 * GRID[:, 0], atol=1e-3)
    assert len(set(result.indices.tolist())) == 20  # each candidate measured at most once
    assert (result.chosen[:4] == -1).all() and set(result.chosen[4:10].tolist()) == {0, 1, 2}  # initial, warm-up
    for k in np.flatnonzero(result.chosen == 1):  # drift measures the first or last of the unmeasured points
        free = np.setdiff1d(np.arange(len(GRID)), result.indices[:k])
        assert result.indices[k] in (free.min(), free.max())


def test_the_same_seed_gives_the_same_run_and_another_seed_another():
    noise = np.random.default_rng(0).normal(0.0, 0.1, len(GRID))

    def measure(x):
        return np.sin(5 * x[0]) + noise[int(round(x[0] * 40))]

    def run(seed):
        return HypothesisLearner(line_hypotheses(), seed=seed).run(measure, GRID, 12)

    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.records, b.records)
    np.testing.assert_array_equal(a.evidences, b.evidences)
    assert a.winner == b.winner and not np.array_equal(a.indices, c.indices)


def test_symmetric_kl_against_hand_computed_values():
    assert symmetric_kl(0.0, 1.0, 0.0, 1.0) == 0.0
    assert symmetric_kl(0.0, 1.0, 1.0, 1.0) == pytest.approx(1.0)  # ½ · 1² · (1 + 1)
    assert symmetric_kl(0.0, 1.0, 0.0, 2.0) == pytest.approx(0.5 * (0.25 + 4.0 - 2.0))
    assert symmetric_kl(0.3, 0.5, -1.0, 2.0) == pytest.approx(symmetric_kl(-1.0, 2.0, 0.3, 0.5))
    with pytest.raises(ValueError, match="positive standard deviations"):
        symmetric_kl(0.0, 0.0, 0.0, 1.0)


def test_discrimination_weights_rivals_by_evidence_and_ignores_agreeing_ones():
    means = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 3.0]])
    stds = np.ones((3, 3))
    only_1 = discrimination(0, means, stds, np.array([0.0, 0.0, -1e9]))  # rival 2 has no evidence
    np.testing.assert_allclose(only_1, symmetric_kl(means[0], 1.0, means[1], 1.0))
    both = discrimination(0, means, stds, np.array([0.0, 0.0, 0.0]))
    np.testing.assert_allclose(both, 0.5 * (np.array([0.0, 1.0, 4.0]) + np.array([0.0, 0.0, 9.0])))
    assert discrimination(0, means[:1], stds[:1], np.zeros(1)).tolist() == [0.0, 0.0, 0.0]  # no rival


def test_the_evidence_reward_and_the_discriminating_points_find_a_noiseless_line():
    learner = HypothesisLearner(line_hypotheses(), reward="evidence", acquisition="discrimination", seed=3)
    result = learner.run(line, GRID, 16)
    assert result.winner == "drift" and result.names[int(np.argmax(result.evidences))] == "drift"
    after_warmup = result.rewards[10:]
    led = result.chosen[10:] == 1  # a step earns 1 exactly when its hypothesis leads on the evidence
    assert (after_warmup[led] == 1).all() and (after_warmup[~led] == 0).all()
    assert result.records[-1][1] > max(result.records[-1][0], result.records[-1][2])
    assert len(set(result.indices.tolist())) == 16


def test_drift_against_none_is_discriminated_at_the_ends_of_the_interval():
    none, drift = line_hypotheses()[:2]
    x = np.array([[0.4], [0.5], [0.6]])
    y = np.array([1.0, 1.02, 0.98])
    preds = [h.fit(x, y).predict(GRID) for h in (none, drift)]
    means, stds = np.array([p[0] for p in preds]), np.array([p[1] for p in preds])
    score = discrimination(1, means, stds, np.array([none.log_evidence_, drift.log_evidence_]))
    assert int(np.argmax(score)) in (0, len(GRID) - 1) and score[20] < score[0]


def test_bad_input_raises_errors_that_name_the_problem():
    hyps = line_hypotheses()
    with pytest.raises(CausalPhysError, match="at least one hypothesis"):
        HypothesisLearner([])
    with pytest.raises(ValueError, match="unknown policy 'greedy'"):
        HypothesisLearner(hyps, policy="greedy")
    with pytest.raises(ValueError, match="unknown policy 'greedy'"):
        choose_hypothesis([0.0, 1.0], np.random.default_rng(0), "greedy")
    with pytest.raises(ValueError, match="temperature > 0"):
        HypothesisLearner(hyps, temperature=0.0)
    with pytest.raises(ValueError, match="unknown reward 'surprise'"):
        HypothesisLearner(hyps, reward="surprise")
    with pytest.raises(ValueError, match="unknown acquisition 'ucb'"):
        HypothesisLearner(hyps, acquisition="ucb")
    for bad in (0.0, 1.5, float("nan"), "0.5"):
        with pytest.raises(ValueError, match="step_size must lie in \\(0, 1\\]"):
            HypothesisLearner(hyps, step_size=bad)
    with pytest.raises(ValueError, match="names must be unique"):
        HypothesisLearner([hyps[0], hyps[0]])
    with pytest.raises(ValueError, match="budget 50 is larger than the candidate pool \\(41 points\\)"):
        HypothesisLearner(hyps).run(line, GRID, 50)
    with pytest.raises(ValueError, match="no room for the warm-up"):
        HypothesisLearner(hyps).run(line, GRID, 6)

    def broken(x):
        return np.nan if x[0] > 0.5 else 1.0

    with pytest.raises(MeasurementError, match=r"at candidate \d+ \(x = \[0\.[5-9]\d*\]\) returned nan"):
        HypothesisLearner(hyps, seed=0).run(broken, GRID, 20)
    with pytest.raises(MeasurementError, match="not one number"):
        HypothesisLearner(hyps).run(lambda x: [1.0, 2.0], GRID, 10)
    with pytest.raises(ValueError, match="not fitted"):
        hyps[0].predict(GRID)
