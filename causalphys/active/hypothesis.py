"""Hypothesis learning (Ziatdinov et al. 2021, arXiv:2112.06649): measure where the hypotheses are least sure, and
keep the hypothesis whose uncertainty falls fastest.

Each of ``H`` competing hypotheses is a structured probabilistic model of the measured signal: a Gaussian process
(scikit-learn's :class:`~sklearn.gaussian_process.GaussianProcessRegressor`) with a mechanism kernel ``k_h`` on an
optional feature map ``φ_h`` plus white measurement noise,

    y = f_h(x) + ε,   f_h ~ GP(0, k_h(φ_h(x), φ_h(x'))),   ε ~ N(0, σ²)

(a kernel ``c + s · DotProduct`` on features ``φ(x) = (φ_1(x), …, φ_k(x))`` is Bayesian linear regression on that
basis with weights ``~ N(0, s)`` and an offset ``~ N(0, c)``). Hyper-parameters left free (noise, offset variance,
...) are fitted by maximising the log marginal likelihood ``log p(y | X, h)`` (type-II maximum likelihood); that
maximum is the hypothesis's (empirical-Bayes) evidence.

The loop over a pool of candidate points ``X_c`` (``(n, d)``) with a budget of ``B`` measurements:

1. ``n_initial`` points are drawn at random from the pool and measured;
2. at each step a hypothesis ``m`` is chosen by a policy over the running-average rewards ``R`` (``(H,)``):
   softmax ``p_h ∝ exp(R_h / T)`` or epsilon-greedy (a uniformly random hypothesis with probability ``ε``, else
   ``argmax R``, ties at random); a warm-up of ``warmup`` rounds first chooses every hypothesis in turn;
3. ``m`` is fitted to all measurements so far; its posterior predictive standard deviation ``s_m(x)`` over the
   not-yet-measured points ``U`` gives its integrated uncertainty ``u_m = mean_{x ∈ U} s_m(x)``;
4. reward ``r = 1`` if ``u_m`` is below ``m``'s previous value, else ``0`` (no reward on ``m``'s first
   evaluation); ``R_m ← (c_m R_m + r) / (c_m + 1)``, ``c_m ← c_m + 1`` (or, with a ``step_size`` α, the
   recency-weighted average ``R_m ← R_m + α (r − R_m)``, from ``R_m = r`` at the first reward);
5. the next measurement is ``argmax_{x ∈ U} s_m(x)`` (ties at random).

When the budget is spent, the winner is ``argmax R`` (ties broken by the higher evidence); every hypothesis is
refitted to all measurements for its evidence, and the winner's posterior over the pool is reported.

Steps 4 and 5 are the paper's (``reward="uncertainty"``, ``acquisition="uncertainty"``). Two alternatives, for
hypotheses whose uncertainty falls alike whichever is true (nested linear-Gaussian models: see
``experiments/active/README.md``):

- ``reward="evidence"``: after ``m``'s measurement every hypothesis is refitted to all measurements; ``r = 1`` if
  ``m`` now has the highest log evidence ``log p(y | X, h)``, else ``0`` — "the data ``m`` asked for support ``m``
  best". The record of a hypothesis is then the share of its turns in which it led.
- ``acquisition="discrimination"``: ``m`` measures where its posterior predictive ``N(μ_m, s_m²)`` differs most from
  its rivals', ``argmax_{x ∈ U} Σ_{h ≠ m} w_h D(m, h; x)`` with the symmetric Kullback-Leibler divergence
  ``D = ½ [s_m²/s_h² + s_h²/s_m² - 2 + (μ_m - μ_h)² (1/s_m² + 1/s_h²)]`` and the rivals weighted by their evidence,
  ``w_h ∝ exp log p(y | X, h)`` (the design criterion of Box and Hill 1967 for discriminating between models, in
  its Gaussian form). Every hypothesis is fitted at every step.

And one for the record: the rewards are not stationary (with few measurements the simplest hypothesis leads on
evidence, a weak mechanism only later), and a sample average remembers the early lead as long as the run lasts.
``step_size=α`` keeps the exponential recency-weighted average instead (the estimate for a non-stationary bandit;
Sutton & Barto, *Reinforcement Learning*, 2nd ed., 2018, §2.5): a reward ``j`` turns old weighs ``α (1 − α)^j``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from causalphys.active.gp_hypothesis import Hypothesis, MeasurementError, points
from causalphys.errors import ParameterError

if TYPE_CHECKING:
    pass

POLICIES = ("softmax", "epsilon_greedy")
REWARDS = ("uncertainty", "evidence")
ACQUISITIONS = ("uncertainty", "discrimination")


def choose_hypothesis(
    records: np.ndarray,
    rng: np.random.Generator,
    policy: str = "softmax",
    temperature: float = 0.1,
    epsilon: float = 0.1,
) -> int:
    """The index of the next hypothesis, given the running-average rewards ``records`` ``(H,)``.

    ``softmax``: ``p_h = exp((R_h - max R) / T) / Σ exp(...)``. ``epsilon_greedy``: uniform with probability
    ``ε``, else ``argmax R`` with ties broken uniformly at random.
    """
    records = np.asarray(records, dtype=float)
    if records.ndim != 1 or len(records) == 0 or not np.isfinite(records).all():
        raise ParameterError(f"records must be a non-empty 1-d array of finite rewards, got {records}")
    if policy == "softmax":
        if not temperature > 0:
            raise ParameterError(f"softmax needs temperature > 0, got {temperature}")
        logits = (records - records.max()) / temperature
        p = np.exp(logits)
        return int(rng.choice(len(records), p=p / p.sum()))
    if policy == "epsilon_greedy":
        if not 0 <= epsilon <= 1:
            raise ParameterError(f"epsilon must lie in [0, 1], got {epsilon}")
        if rng.random() < epsilon:
            return int(rng.integers(len(records)))
        return int(rng.choice(np.flatnonzero(records == records.max())))
    raise ParameterError(f"unknown policy {policy!r}; policies are {list(POLICIES)}")


def uncertainty_reward(previous: float | None, current: float) -> float | None:
    """``1`` if the integrated uncertainty fell (``current < previous``), else ``0``; ``None`` on a first
    evaluation (``previous is None``)."""
    if previous is None:
        return None
    return 1.0 if current < previous else 0.0


def update_record(record: float, count: int, reward: float, step_size: float | None = None) -> tuple[float, int]:
    """The record after one more reward: the running average ``((c R + r) / (c + 1), c + 1)``, or with a
    ``step_size`` α in (0, 1] the recency-weighted ``(R + α (r − R), c + 1)`` (``r`` itself at the first reward,
    ``c = 0``, so that the starting value 0 carries no weight)."""
    if step_size is None or count == 0:
        return (count * record + reward) / (count + 1), count + 1
    return record + step_size * (reward - record), count + 1


def symmetric_kl(mean_a, std_a, mean_b, std_b) -> np.ndarray:
    """Symmetric Kullback-Leibler divergence ``KL(a||b) + KL(b||a)`` between Gaussians, elementwise:
    ``½ [s_a²/s_b² + s_b²/s_a² - 2 + (μ_a - μ_b)² (1/s_a² + 1/s_b²)]``."""
    va, vb = np.asarray(std_a, dtype=float) ** 2, np.asarray(std_b, dtype=float) ** 2
    if (va <= 0).any() or (vb <= 0).any():
        raise ParameterError("symmetric_kl needs positive standard deviations")
    d2 = (np.asarray(mean_a, dtype=float) - np.asarray(mean_b, dtype=float)) ** 2
    return 0.5 * (va / vb + vb / va - 2.0 + d2 * (1.0 / va + 1.0 / vb))


def discrimination(m: int, means: np.ndarray, stds: np.ndarray, log_evidence: np.ndarray) -> np.ndarray:
    """How well measuring each point would tell hypothesis ``m`` from its rivals: ``Σ_{h ≠ m} w_h D(m, h)`` with
    :func:`symmetric_kl` ``D`` between the posterior predictives (``means``, ``stds`` ``(H, n)``) and the rivals
    weighted by their evidence (``w_h ∝ exp log_evidence_h``, ``h ≠ m``). ``(n,)``."""
    rivals = [h for h in range(len(means)) if h != m]
    if not rivals:
        return np.zeros(means.shape[1])
    logw = np.asarray(log_evidence, dtype=float)[rivals]
    w = np.exp(logw - logw.max())
    w /= w.sum()
    return sum(wh * symmetric_kl(means[m], stds[m], means[h], stds[h]) for wh, h in zip(w, rivals))


@dataclass(frozen=True)
class HypothesisLearningResult:
    """What a run of :class:`HypothesisLearner` measured and concluded (``B`` measurements, ``H`` hypotheses).

    ``indices`` ``(B,)`` the measured candidates in order, ``points`` ``(B, d)``, ``values`` ``(B,)``;
    ``chosen`` ``(B,)`` the hypothesis that picked each point (``-1`` for the random initial points);
    ``rewards`` ``(B,)`` the reward earned by the step that picked the point (``nan`` where none);
    ``uncertainties`` ``(B,)`` the chosen hypothesis's integrated uncertainty at that step (``nan`` initially);
    ``records`` ``(B, H)`` the records after each measurement (average rewards; recency-weighted with a
    ``step_size``), ``counts`` ``(H,)`` at the end;
    ``evidences`` ``(H,)`` each hypothesis's log evidence on all ``B`` measurements; ``winner`` its name,
    ``posterior`` the winner fitted to all measurements, ``posterior_mean``/``posterior_std`` over the pool.
    """

    names: tuple[str, ...]
    indices: np.ndarray
    points: np.ndarray
    values: np.ndarray
    chosen: np.ndarray
    rewards: np.ndarray
    uncertainties: np.ndarray
    records: np.ndarray
    counts: np.ndarray
    evidences: np.ndarray
    winner: str
    posterior: Hypothesis
    posterior_mean: np.ndarray
    posterior_std: np.ndarray


@dataclass
class _Trace:
    """The state of one run of :class:`HypothesisLearner`: the hypotheses being fitted (``models``), their records
    ``(H,)`` and reward counts ``(H,)``, each one's last integrated uncertainty (``None`` before its first), and per
    measurement its candidate index, value, the hypothesis that chose it (``-1``: an initial point), the reward
    (``nan``: none), the chooser's uncertainty (``nan`` initially) and the records after it."""

    models: list[Hypothesis]
    record: np.ndarray
    count: np.ndarray
    previous: list[float | None]
    measured: list[int]
    values: list[float] = field(default_factory=list)
    chosen: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    uncertainties: list[float] = field(default_factory=list)
    records: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def start(cls, hypotheses: Sequence[Hypothesis], initial: list[int]) -> _Trace:
        """A run's state before its first step: unfitted clones of ``hypotheses``, zero records, and the ``initial``
        points (to be measured) with no chooser, reward or uncertainty."""
        H = len(hypotheses)
        trace = cls([h.clone() for h in hypotheses], np.zeros(H), np.zeros(H, dtype=int), [None] * H, initial)
        trace.chosen, trace.rewards = [-1] * len(initial), [np.nan] * len(initial)
        trace.uncertainties, trace.records = [np.nan] * len(initial), [trace.record.copy() for _ in initial]
        return trace

    def close_step(self, m: int, reward: float | None, uncertainty: float, step_size: float | None) -> None:
        """Book the step in which hypothesis ``m`` (integrated uncertainty ``uncertainty``) chose the last measured
        point: update its record with ``reward`` (:func:`update_record`; nothing for ``None``) and log the step."""
        if reward is not None:
            self.record[m], self.count[m] = update_record(self.record[m], self.count[m], reward, step_size)
        self.chosen.append(m)
        self.rewards.append(np.nan if reward is None else reward)
        self.uncertainties.append(uncertainty)
        self.records.append(self.record.copy())


class HypothesisLearner:
    """Hypothesis learning over a pool of candidate points (the module docstring gives the algorithm).

    ``policy`` ``"softmax"`` (``temperature``) or ``"epsilon_greedy"`` (``epsilon``); ``warmup`` rounds in which
    every hypothesis is chosen in turn; ``n_initial`` random points before the first fit; ``include_noise``: the
    uncertainty is that of a new measurement (else of the mechanism); ``reward`` ``"uncertainty"`` (the paper's) or
    ``"evidence"``, ``acquisition`` ``"uncertainty"`` (the paper's) or ``"discrimination"``, ``step_size`` ``None``
    (the records are sample averages: the paper's) or α in (0, 1] (recency-weighted; module docstring); all
    randomness from ``seed``.
    """

    def __init__(
        self,
        hypotheses: Sequence[Hypothesis],
        policy: str = "softmax",
        temperature: float = 0.1,
        epsilon: float = 0.1,
        warmup: int = 2,
        n_initial: int = 4,
        include_noise: bool = True,
        reward: str = "uncertainty",
        acquisition: str = "uncertainty",
        step_size: float | None = None,
        seed: int = 0,
    ):
        hypotheses = list(hypotheses)
        if not hypotheses:
            raise ParameterError("HypothesisLearner needs at least one hypothesis, got none")
        bad = [h for h in hypotheses if not isinstance(h, Hypothesis)]
        if bad:
            raise ParameterError(f"hypotheses must be Hypothesis objects, got {bad}")
        names = [h.name for h in hypotheses]
        if len(set(names)) != len(names):
            raise ParameterError(f"hypothesis names must be unique, got {names}")
        if policy not in POLICIES:
            raise ParameterError(f"unknown policy {policy!r}; policies are {list(POLICIES)}")
        if policy == "softmax" and not temperature > 0:
            raise ParameterError(f"softmax needs temperature > 0, got {temperature}")
        if not 0 <= epsilon <= 1:
            raise ParameterError(f"epsilon must lie in [0, 1], got {epsilon}")
        if reward not in REWARDS:
            raise ParameterError(f"unknown reward {reward!r}; rewards are {list(REWARDS)}")
        if acquisition not in ACQUISITIONS:
            raise ParameterError(f"unknown acquisition {acquisition!r}; acquisitions are {list(ACQUISITIONS)}")
        if step_size is not None and not (isinstance(step_size, (int, float)) and 0 < step_size <= 1):  # also NaN
            raise ParameterError(f"step_size must lie in (0, 1] (or be None: sample averages), got {step_size}")
        if warmup < 1 or n_initial < 1:
            raise ParameterError(f"warmup and n_initial must be >= 1, got {warmup} and {n_initial}")
        self.hypotheses = hypotheses
        self.policy = policy
        self.temperature = temperature
        self.epsilon = epsilon
        self.warmup = warmup
        self.n_initial = n_initial
        self.include_noise = include_noise
        self.reward = reward
        self.acquisition = acquisition
        self.step_size = step_size
        self.seed = seed

    def _measure(self, measure: Callable, x: np.ndarray, index: int) -> float:
        value = measure(x.copy())
        try:
            value = float(np.asarray(value, dtype=float).item())
        except (TypeError, ValueError) as err:
            raise MeasurementError(
                f"measure(x) at candidate {index} (x = {x.tolist()}) returned {value!r}, not one number"
            ) from err
        if not np.isfinite(value):
            raise MeasurementError(f"measure(x) at candidate {index} (x = {x.tolist()}) returned {value}")
        return value

    def run(
        self, measure: Callable[[np.ndarray], float], candidates: np.ndarray, budget: int
    ) -> HypothesisLearningResult:
        """Spend ``budget`` measurements ``y = measure(x)`` (``x`` a row of ``candidates`` ``(n, d)``, each measured
        at most once) and return the :class:`HypothesisLearningResult`."""
        X = self._checked_pool(candidates, budget)
        rng = np.random.default_rng(self.seed)
        trace = _Trace.start(self.hypotheses, list(rng.choice(len(X), size=self.n_initial, replace=False)))
        trace.values += [self._measure(measure, X[i], int(i)) for i in trace.measured]
        # the evidence reward and the discriminating acquisition need every model fitted to the current
        # measurements: fitted here, then after each measurement
        fit_all = self.reward == "evidence" or self.acquisition == "discrimination"
        if fit_all:
            self._fit_all(trace.models, X[trace.measured], np.array(trace.values), rng)
        for step in range(budget - len(trace.measured)):
            self._step(trace, step, measure, X, rng, fit_all)
        return self._conclude(trace, X, rng)

    def _checked_pool(self, candidates: np.ndarray, budget: int) -> np.ndarray:
        """The candidate points as ``(n, d)``; raise :class:`ParameterError` for an empty or non-finite pool, or a
        budget larger than the pool or too small for the ``n_initial`` points and the warm-up."""
        X = points(candidates, "candidates")
        H, n = len(self.hypotheses), len(X)
        if n == 0 or not np.isfinite(X).all():
            raise ParameterError(f"candidates must be a non-empty array of finite points, got shape {X.shape}")
        if budget > n:
            raise ParameterError(f"budget {budget} is larger than the candidate pool ({n} points)")
        need = self.n_initial + self.warmup * H
        if budget < need:
            raise ParameterError(
                f"budget {budget} leaves no room for the warm-up: n_initial {self.n_initial} + warmup {self.warmup} "
                f"x {H} hypotheses = {need} measurements"
            )
        return X

    def _step(
        self, trace: _Trace, step: int, measure: Callable, X: np.ndarray, rng: np.random.Generator, fit_all: bool
    ) -> None:
        """One step of the loop (module docstring, steps 2-5): choose a hypothesis ``m`` (in turn during the
        warm-up), take its integrated uncertainty over the unmeasured points, measure the point it asks for and
        update its record with the reward."""
        H, models = len(self.hypotheses), trace.models
        m = step % H if step < self.warmup * H else self._choose(trace.record, rng)
        free = np.setdiff1d(np.arange(len(X)), trace.measured)
        if not fit_all:
            models[m].fit(X[trace.measured], np.array(trace.values), random_state=int(rng.integers(2**31)))
        _, std = models[m].predict(X[free], include_noise=self.include_noise)
        u = float(std.mean())
        r = None
        if self.reward == "uncertainty":
            r = uncertainty_reward(trace.previous[m], u)
            trace.previous[m] = u
        i = self._acquire(m, std, free, models, X, rng)
        trace.measured.append(i)
        trace.values.append(self._measure(measure, X[i], i))
        if fit_all:
            self._fit_all(models, X[trace.measured], np.array(trace.values), rng)
        if self.reward == "evidence":
            evidence = np.array([model.log_evidence_ for model in models])
            r = 1.0 if int(np.argmax(evidence)) == m else 0.0
        trace.close_step(m, r, u, self.step_size)

    def _acquire(
        self,
        m: int,
        std: np.ndarray,
        free: np.ndarray,
        models: list[Hypothesis],
        X: np.ndarray,
        rng: np.random.Generator,
    ) -> int:
        """The candidate hypothesis ``m`` measures next, among the unmeasured ``free``: the largest score (ties at
        random), the score being ``m``'s predictive ``std`` over ``free`` (``acquisition="uncertainty"``) or its
        :func:`discrimination` from its rivals (``"discrimination"``)."""
        if self.acquisition == "uncertainty":
            score = std
        else:
            predictions = [model.predict(X[free]) for model in models]
            means = np.array([p[0] for p in predictions])
            stds = np.array([p[1] for p in predictions])
            score = discrimination(m, means, stds, np.array([model.log_evidence_ for model in models]))
        best = free[np.flatnonzero(score >= score.max() * (1 - 1e-9))]
        return int(rng.choice(best))

    def _conclude(self, trace: _Trace, X: np.ndarray, rng: np.random.Generator) -> HypothesisLearningResult:
        """Refit every hypothesis to all measurements for its evidence, name the winner (``argmax`` of the records,
        ties to the higher evidence) and its posterior over the pool."""
        y = np.array(trace.values)
        self._fit_all(trace.models, X[trace.measured], y, rng)
        evidences = np.array([model.log_evidence_ for model in trace.models])
        top = np.flatnonzero(trace.record == trace.record.max())
        w = int(top[np.argmax(evidences[top])])
        winner = trace.models[w]
        mean, std = winner.predict(X, include_noise=False)
        return HypothesisLearningResult(
            names=tuple(h.name for h in self.hypotheses),
            indices=np.array(trace.measured),
            points=X[trace.measured],
            values=y,
            chosen=np.array(trace.chosen),
            rewards=np.array(trace.rewards),
            uncertainties=np.array(trace.uncertainties),
            records=np.array(trace.records),
            counts=trace.count,
            evidences=evidences,
            winner=winner.name,
            posterior=winner,
            posterior_mean=mean,
            posterior_std=std,
        )

    @staticmethod
    def _fit_all(models: list[Hypothesis], X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> None:
        seed = int(rng.integers(2**31))
        for model in models:
            model.fit(X, y, random_state=seed)

    def _choose(self, record: np.ndarray, rng: np.random.Generator) -> int:
        return choose_hypothesis(record, rng, self.policy, self.temperature, self.epsilon)
