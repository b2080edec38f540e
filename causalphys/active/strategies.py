"""Acquisition strategies: which experiment to run next.

A strategy sees the loop's state (what was measured where, the model fitted on it, the instrument) and names the
next candidate experiment. Randomness comes only from the generator the loop passes in (one per round, derived
from the run seed), so a rerun — or a resumed run — chooses the same experiments.

- :class:`RandomStrategy`: uniform over the candidates (the baseline).
- :class:`PoolScoreStrategy`: the base of the two below — a score per candidate from the current model and an
  unlabelled pool of it, the highest measured next (a new model-based strategy writes only ``scores``).
- :class:`UncertaintyStrategy`: an ensemble refitted on everything measured so far (members differ by seed)
  predicts on an unlabelled pool of every candidate; the candidate whose pool the members disagree on most is
  measured next. Disagreement is the mean over the pool of ``Σ_k Var_m p_m(k | x)`` (the variance across members of
  the predicted class probabilities, summed over classes; "variation across committee members", Seung et al. 1992,
  in the form of Beluch et al. 2018), or with ``score="entropy"`` the entropy of the ensemble's mean prediction.
- :class:`PredictionShiftStrategy`: measure where the model's predicted class frequencies on an unlabelled pool
  disagree most with the class frequencies that experiment has delivered, ``KL(p̂_c || q_c)``. A model that leans
  on an instrument signature collapses to one class on an experiment that fixes the instrument (``do(scanner)``),
  where the labels it has seen are mixed: the score points at the experiments that would correct it, and costs one
  prediction per pool (no refits). The idea of reading a shift off the predicted label distribution is that of
  black-box shift detection (Lipton et al. 2018, arXiv:1802.03916).
- :class:`InstrumentMatchStrategy`: measure the experiment whose unlabelled images look most like those of the
  ``target`` environment (where the model will be used; unlabelled there) by their radially averaged log power
  spectrum — the instrument's fingerprint: the probe's blur is the spectrum's fall-off, the dose its noise floor,
  scan distortions the place of its peaks. No model is needed: it matches the training instrument to the deployment
  instrument, the physicist's answer to a shift of the scanner (importance of matching source to target: Shimodaira
  2000; Ben-David et al. 2010). It is deterministic, so it keeps measuring the closest experiment.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.evaluation.metrics import probabilities
from causalphys.seeding import derive_seed

SCORES = ("disagreement", "entropy")


@dataclass
class LoopState:
    """What a strategy may look at: the round (from 0), the candidates, the units measured per candidate so far,
    the data ``{candidate: (x, y)}``, the model fitted on it (``None`` before the first measurement), and the loop's
    instrument, learner and run seed."""

    round: int
    candidates: list[str]
    counts: dict[str, int]
    data: Mapping[str, tuple[torch.Tensor, torch.Tensor]]
    model: object | None
    instrument: object
    learner: object
    seed: int
    extra: dict = field(default_factory=dict)


class Strategy(abc.ABC):
    """Names the next experiment. ``warmup``: the first ``warmup`` rounds go once to each candidate in turn
    (candidates in the given order), before the strategy's own rule takes over."""

    name = "strategy"

    def __init__(self, warmup: int = 0):
        self.warmup = checks.nonnegative_int("warmup", warmup)

    def choose(self, state: LoopState, generator: torch.Generator) -> str:
        if state.round < self.warmup:
            return state.candidates[state.round % len(state.candidates)]
        return self.select(state, generator)

    @abc.abstractmethod
    def select(self, state: LoopState, generator: torch.Generator) -> str:
        """The strategy's own rule."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(warmup={self.warmup})"


class RandomStrategy(Strategy):
    """Each round a candidate drawn uniformly at random."""

    name = "random"

    def select(self, state: LoopState, generator: torch.Generator) -> str:
        return state.candidates[int(torch.randint(len(state.candidates), (1,), generator=generator))]


class PoolScoreStrategy(Strategy):
    """A strategy that scores every candidate from the current model and an unlabelled pool of it, and measures the
    highest score (ties: the candidate listed first; the scores are kept in ``state.extra["scores"]``). Before any
    model there is nothing to score: the experiment is random's own draw with the round's generator, so a study's
    strategies start from the same batch. Subclasses give :meth:`scores`."""

    pool_size = 256
    needs_model = True

    def select(self, state: LoopState, generator: torch.Generator) -> str:
        if state.model is None and self.needs_model:
            return RandomStrategy().select(state, generator)
        pool = getattr(state.instrument, "pool", None)
        if pool is None:
            raise ParameterError(
                f"{type(self).__name__} needs an instrument with pool(candidate, n, seed) -> unlabelled x "
                f"(got {type(state.instrument).__name__})"
            )
        scores = self.scores(state, pool)
        state.extra["scores"] = scores
        best = max(scores.values())
        return next(c for c in state.candidates if scores[c] == best)

    def pool_of(self, state: LoopState, pool, candidate: str) -> torch.Tensor:
        """``pool_size`` unlabelled units of ``candidate``, seeded by the run seed, the round and the candidate."""
        return pool(candidate, self.pool_size, derive_seed(state.seed, "pool", state.round, candidate))

    @abc.abstractmethod
    def scores(self, state: LoopState, pool) -> dict[str, float]:
        """``{candidate: score}`` for every candidate (higher: measure sooner)."""


class UncertaintyStrategy(PoolScoreStrategy):
    """Measure where an ensemble of ``members`` models is least sure (see the module docstring).

    The loop's own model is the first member; the others are refitted on the same data with seeds derived from the
    round's. ``pool_size`` unlabelled units per candidate are scored (drawn with the instrument's ``pool``).
    Before anything is measured there is no model to ask: the first experiment is drawn uniformly at random, the
    draw :class:`RandomStrategy` makes with the same generator (so runs of the two with the same seed start from the
    same batch); during ``warmup`` candidates are taken in turn. Ties go to the candidate listed first.
    """

    name = "uncertainty"

    def __init__(self, members: int = 3, pool_size: int = 256, score: str = "disagreement", warmup: int = 0):
        super().__init__(warmup=warmup)
        checks.int_at_least("members", members, 2)  # an ensemble
        checks.positive_int("pool_size", pool_size)
        if score not in SCORES:
            raise ParameterError(f"unknown uncertainty score {score!r}; scores are {list(SCORES)}")
        self.members, self.pool_size, self.score = members, pool_size, score

    def scores(self, state: LoopState, pool) -> dict[str, float]:
        models = [state.model] + [
            state.learner.fit(state.data, seed=derive_seed(state.seed, "member", state.round, m))
            for m in range(1, self.members)
        ]
        scores = {}
        for candidate in state.candidates:
            x = self.pool_of(state, pool, candidate)
            probs = torch.stack([probabilities(model.predict(x)) for model in models])  # (members, n, classes)
            scores[candidate] = float(self.uncertainty(probs))
        return scores

    def uncertainty(self, probs: torch.Tensor) -> torch.Tensor:
        """Mean over the pool of the ensemble's uncertainty; ``probs`` ``(members, n, classes)``."""
        if self.score == "disagreement":
            return probs.var(0, unbiased=False).sum(-1).mean()
        mean = probs.mean(0)
        return -(mean * mean.clamp_min(1e-12).log()).sum(-1).mean()

    def __repr__(self) -> str:
        return (
            f"UncertaintyStrategy(members={self.members}, pool_size={self.pool_size}, score={self.score!r}, "
            f"warmup={self.warmup})"
        )


class PredictionShiftStrategy(PoolScoreStrategy):
    """Measure where the model's predictions are most out of line with the labels (see the module docstring).

    For each candidate ``c``: ``q_c`` is the model's mean predicted class distribution over ``pool_size``
    unlabelled units of ``c`` (drawn with the instrument's ``pool``), ``p̂_c`` the class frequencies of the labels
    measured in ``c`` so far — or of all labels measured so far where ``c`` is not yet measured — smoothed by
    ``prior_count`` pseudo-counts per class; the score is ``KL(p̂_c || q_c) = Σ_k p̂_k log(p̂_k / q_k)``. The
    candidate with the largest score is measured next (ties: the one listed first). Before any measurement the
    experiment is drawn at random as :class:`UncertaintyStrategy` does; during ``warmup`` candidates are taken in
    turn.
    """

    name = "prediction_shift"

    def __init__(self, pool_size: int = 256, prior_count: float = 1.0, warmup: int = 0):
        super().__init__(warmup=warmup)
        checks.positive_int("pool_size", pool_size)
        self.pool_size, self.prior_count = pool_size, checks.positive_float("prior_count", prior_count)

    def scores(self, state: LoopState, pool) -> dict[str, float]:
        labelled = [y for _, y in state.data.values()]
        if not labelled or labelled[0].dtype.is_floating_point:
            raise ParameterError("PredictionShiftStrategy needs class labels (integer y) in the measured data")
        scores = {}
        for candidate in state.candidates:
            q = probabilities(state.model.predict(self.pool_of(state, pool, candidate))).mean(0)
            y = state.data[candidate][1] if candidate in state.data else torch.cat(labelled)
            scores[candidate] = float(self.shift(y, q))
        return scores

    def shift(self, labels: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
        """``KL(p̂ || q)`` of the smoothed class frequencies of ``labels`` against the mean prediction ``q``
        ``(classes,)``."""
        k = predicted.numel()
        if labels.numel() and (labels.min() < 0 or labels.max() >= k):
            raise ParameterError(f"labels must lie in 0..{k - 1} (the model's classes), got {labels.unique().tolist()}")
        counts = torch.bincount(labels.long().view(-1), minlength=k).to(predicted.dtype) + self.prior_count
        p = counts / counts.sum()
        return (p * (p.log() - predicted.clamp_min(1e-12).log())).sum()

    def __repr__(self) -> str:
        return (
            f"PredictionShiftStrategy(pool_size={self.pool_size}, prior_count={self.prior_count}, warmup={self.warmup})"
        )


def radial_log_spectrum(images: torch.Tensor, bins: int = 16) -> torch.Tensor:
    """The mean over images of the radially averaged log power spectrum, ``(bins,)`` float64.

    ``images`` ``(n, H, W)`` or ``(n, 1, H, W)``: each image minus its mean, ``|rfft2|²``, averaged in ``bins``
    equal rings of spatial frequency ``|k|`` from 0 to the Nyquist corner (``√2 / 2`` cycles per pixel), then
    ``log`` (rings with no frequency get 0) and the mean over the images.
    """
    if images.dim() == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.dim() != 3:
        raise ParameterError(f"images must be (n, H, W) or (n, 1, H, W), got shape {tuple(images.shape)}")
    checks.positive_int("bins", bins)
    x = images.double()
    x = x - x.mean(dim=(1, 2), keepdim=True)
    power = torch.fft.rfft2(x).abs().pow(2)  # (n, H, W // 2 + 1)
    h, w = x.shape[1:]
    k = torch.sqrt(torch.fft.fftfreq(h, dtype=torch.float64).view(-1, 1) ** 2 + torch.fft.rfftfreq(w).double() ** 2)
    ring = (k / (0.5 * 2**0.5) * bins).long().clamp_(max=bins - 1).view(-1)
    counts = torch.bincount(ring, minlength=bins).double()
    sums = torch.zeros(len(x), bins, dtype=torch.float64).index_add_(1, ring, power.reshape(len(x), -1))
    mean = sums / counts.clamp_min(1)
    return torch.where(counts > 0, mean.clamp_min(1e-300).log(), 0.0).mean(0)


class InstrumentMatchStrategy(PoolScoreStrategy):
    """Measure the experiment whose images look most like the ``target``'s (see the module docstring).

    Score of a candidate: ``−||S(pool_c) − S(pool_target)||²`` with ``S`` :func:`radial_log_spectrum` over
    ``pool_size`` unlabelled units of each (the instrument's ``pool``; the target is an environment the instrument
    can pool but not measure, e.g. :class:`~causalphys.active.instruments.SCMInstrument`'s ``unlabelled``). No
    model is used, so the first round already follows the rule; ties go to the candidate listed first.
    """

    name = "instrument_match"
    needs_model = False

    def __init__(self, target: str, pool_size: int = 256, bins: int = 16, warmup: int = 0):
        super().__init__(warmup=warmup)
        if not isinstance(target, str) or not target:
            raise ParameterError(f"target must name the environment to match, got {target!r}")
        checks.positive_int("pool_size", pool_size)
        checks.positive_int("bins", bins)
        self.target, self.pool_size, self.bins = target, pool_size, bins

    def scores(self, state: LoopState, pool) -> dict[str, float]:
        target = radial_log_spectrum(self.pool_of(state, pool, self.target), self.bins)
        return {
            c: -float((radial_log_spectrum(self.pool_of(state, pool, c), self.bins) - target).pow(2).sum())
            for c in state.candidates
        }

    def __repr__(self) -> str:
        return (
            f"InstrumentMatchStrategy(target={self.target!r}, pool_size={self.pool_size}, bins={self.bins}, "
            f"warmup={self.warmup})"
        )
