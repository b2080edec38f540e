"""Learn one node's structural equation from multi-environment data: enumerate, fit, test invariance, rank.

For a target ``x`` and candidate parents ``C``:

1. the term library is evaluated on ``C`` (:class:`~causalphys.discovery.library.TermLibrary`; with units, terms of
   the wrong dimension are dropped, and every drop is recorded in ``dropped_``);
2. candidate equations come from best-subset search and the STLSQ path (:mod:`causalphys.discovery.sparse`), grouped
   by the set of parents they use; the ``top`` best by BIC of each group are kept, plus a power law
   ``c · Π x_i^{a_i}`` for each set of at most ``power_law_max_parents`` positive parents;
3. each is fitted on the pooled data and tested for invariance across environments
   (:func:`~causalphys.discovery.invariance.invariance_test`; ``noise="free"`` where the environments set the noise
   level, as an instrument's dose sets the shot noise: then the spread of the residuals may differ);
4. **ranking rule**: equations accepted as invariant at level ``alpha`` come first, lowest score first (the extended
   BIC ``EBIC_γ = n log(RSS/n) + k log n + 2γ log C(P, j)``, :mod:`causalphys.discovery.sparse`); then the rejected
   ones, by score too. With one environment there is no test and the ranking is by score alone. When every candidate
   is rejected (the node's own mechanism moves across environments, or a cause is hidden), the first is only the best
   fit: ``best_.invariant`` says so. (Ordering the rejected ones by invariance p-value instead picked, for a node
   whose noise the environments change, an equation that extrapolates badly: ``experiments/equations``.)

An equation that uses a child of ``x`` or a proxy of a hidden confounder can predict ``x`` better than its causes,
but it does not stay the same when the environments move the child's or the proxy's own mechanism: the invariance
test rejects it, as in invariant causal prediction (Peters et al. 2016).

**What the test cannot see.** An equation that leaves out a parent whose distribution no environment changes is
invariant too: if the environments are instruments that never move ``Z``, the constant ``x = c`` passes, however much
``Z`` explains. The ranking then rests on the score: among accepted equations the better fit (lower EBIC) comes first,
so the constant comes first only when the law with ``Z`` is rejected — typically because its residual spread differs
across environments while the constant's (the whole spread of ``x``) does not; ``noise="free"`` is the setting for
that case. Each candidate also records ``r2`` (``1 - RSS/TSS`` on the pooled data) and :meth:`MechanismLearner.table`
shows it: an accepted first pick with ``r2`` near 0 says "the environments did not move what explains ``x``", not
"nothing explains ``x``".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from causalphys.discovery.equation import Equation, TermEquation
from causalphys.discovery.frames import columns_of, environment_labels
from causalphys.discovery.invariance import ALPHA, InvarianceResult, check_settings, invariance_test
from causalphys.discovery.library import Features, TermLibrary
from causalphys.discovery.mechanism import SymbolicMechanism
from causalphys.discovery.powerlaw import PowerLaw
from causalphys.discovery.sparse import THRESHOLDS, bic, candidate_supports, ebic
from causalphys.discovery.units import Units
from causalphys.errors import CausalPhysError, ParameterError


@dataclass(frozen=True)
class Candidate:
    """A fitted candidate equation, its BIC and its score (EBIC, :mod:`causalphys.discovery.sparse`) on the pooled
    data, its invariance test (``None`` with one environment) and its ``r2 = 1 - RSS/TSS`` on the pooled data."""

    equation: Equation
    bic: float
    score: float
    invariance: InvarianceResult | None
    r2: float = float("nan")

    @property
    def invariant(self) -> bool | None:
        return None if self.invariance is None else self.invariance.accepted


class MechanismLearner:
    """Settings of the mechanism learner (module docstring).

    Parameters
    ----------
    library : the term library (default ``TermLibrary()``: degree 2, pairwise products, log/exp/sqrt)
    max_terms : best-subset search up to this many non-constant terms (the STLSQ path may give more)
    max_parents : at most this many parents in one equation (default: all candidates)
    power_laws : also fit ``c · Π x_i^{a_i}`` over sets of at most ``power_law_max_parents`` positive parents
    top : equations kept per set of parents (by BIC) for the invariance test
    alpha : level of the invariance test (:data:`causalphys.discovery.invariance.ALPHA`, 0.01)
    mean_test : ``"anova"`` or ``"kruskal"`` for the residual means
    noise : ``"same"`` (default): the noise distribution is the same in every environment, and a change of residual
        spread rejects an equation; ``"free"``: the environments may set the noise level (an instrument's dose or
        probe), so the spread is not tested and the means and coefficients are tested allowing a variance per
        environment (:mod:`causalphys.discovery.invariance`)
    units : ``{variable: dimension}`` (the target's included) to check dimensions; ``None``: not checked
    thresholds : STLSQ thresholds (:data:`causalphys.discovery.sparse.THRESHOLDS`)
    gamma : the EBIC's ``γ`` (:mod:`causalphys.discovery.sparse`); ``0`` ranks by BIC. With best-subset search over a
        few dozen terms, BIC alone lets a chance term in (on the textbook SCM of ``experiments/equations``, held-out
        seeds 100-139: the true formula of y first in 85 % with BIC at level 0.05, 92.5 % with ``γ = 1`` at 0.01)

    Learned (after :meth:`fit`): ``candidates_`` (ranked :class:`Candidate` list), ``best_`` (the first),
    ``features_`` (the evaluated library), ``dropped_`` (``{term or equation: why it was left out}``), ``target_``,
    ``parents_``.
    """

    def __init__(
        self,
        library: TermLibrary | None = None,
        *,
        max_terms: int = 3,
        max_parents: int | None = None,
        power_laws: bool = True,
        power_law_max_parents: int = 2,
        top: int = 5,
        alpha: float = ALPHA,
        mean_test: str = "anova",
        noise: str = "same",
        units: Units | None = None,
        thresholds: Sequence[float] = THRESHOLDS,
        gamma: float = 1.0,
    ):
        self.library = TermLibrary() if library is None else library
        self.max_terms = max_terms
        self.max_parents = max_parents
        self.power_laws = power_laws
        self.power_law_max_parents = power_law_max_parents
        self.top = top
        self.alpha = alpha
        self.mean_test = mean_test
        self.noise = noise
        self.units = units
        self.thresholds = tuple(thresholds)
        self.gamma = gamma

    def fit(self, data, target: str, parents: Sequence[str], environment=None) -> MechanismLearner:
        """Learn ``target``'s equation from ``data`` (a DataFrame or ``{name: array}``) over candidate ``parents``;
        ``environment`` is a column name of ``data`` or one label per row (``None``: one environment)."""
        check_settings(self.alpha, self.mean_test, self.noise)
        parents = list(dict.fromkeys(parents))
        if target in parents:
            raise ParameterError(f"{target!r} cannot be a candidate parent of itself")
        columns = columns_of(data, [*parents, target])
        y = columns.pop(target)
        env = environment_labels(data, environment, len(y))
        if self.units is not None:
            missing = [v for v in [*parents, target] if v not in self.units]
            if missing:
                raise ParameterError(f"units are given but not for {missing}")
        features = self.library.build(columns, parents, target=target, units=self.units)
        dropped = dict(features.dropped)
        equations = self._term_equations(features, y, target) + self._power_laws(columns, y, target, parents, dropped)
        n = len(y)
        tss = float(np.sum((y - y.mean()) ** 2))
        tested = []
        for eq in equations:
            result = None
            if env is not None and len(set(env.tolist())) >= 2:
                result = invariance_test(
                    eq, columns, y, env, alpha=self.alpha, mean_test=self.mean_test, noise=self.noise
                )
            size, chosen = self._search_size(eq, features, columns)
            score = ebic(eq.rss_, n, eq.n_params, size, chosen, self.gamma)
            r2 = 1.0 - eq.rss_ / tss if tss > 0 else float("nan")
            tested.append(Candidate(eq, bic(eq.rss_, n, eq.n_params), score, result, r2))
        if not tested:
            raise CausalPhysError(f"no candidate equation for {target!r} could be fitted; dropped: {dropped}")
        tested.sort(key=_rank_key)
        self.candidates_ = tested
        self.best_ = tested[0]
        self.features_ = features
        self.dropped_ = dropped
        self.target_ = target
        self.parents_ = tuple(parents)
        return self

    def _search_size(self, eq: Equation, features: Features, columns) -> tuple[int, int]:
        """``(P, j)`` of the EBIC penalty: for library terms, ``j`` non-constant terms of the library's ``P``; for a
        power law, ``j`` variables of the ``P`` positive candidate parents."""
        if isinstance(eq, TermEquation):
            return sum(not t.is_constant for t in features.terms), len(eq.term_names)
        return sum(col.min() > 0 for col in columns.values()), len(eq.variables)

    def _term_equations(self, features: Features, y: np.ndarray, target: str) -> list[Equation]:
        supports = candidate_supports(
            features, y, max_terms=self.max_terms, thresholds=self.thresholds, gamma=self.gamma
        )
        kept: dict[frozenset, int] = {}
        out = []
        for s in supports:  # sorted by score: the first `top` of each set of parents
            terms = [features.terms[i] for i in s.columns]
            used = frozenset(v for t in terms for v in t.variables)
            if self.max_parents is not None and len(used) > self.max_parents:
                continue
            if kept.get(used, 0) >= self.top:
                continue
            kept[used] = kept.get(used, 0) + 1
            out.append(TermEquation(target, terms).fit_design(features.matrix[:, list(s.columns)], y))
        return out

    def _power_laws(self, columns, y, target, parents, dropped) -> list[Equation]:
        if not self.power_laws:
            return []
        positive = [p for p in parents if columns[p].min() > 0]
        for p in parents:
            if p not in positive:
                dropped[f"power law in {p}"] = f"{p} takes values <= 0 (down to {columns[p].min():.3g})"
        limit = min(self.power_law_max_parents, self.max_parents or len(positive))
        out = []
        for r in range(1, limit + 1):
            for subset in itertools.combinations(positive, r):
                law = PowerLaw(target, subset)
                try:
                    out.append(law.fit(columns, y))
                except CausalPhysError as err:
                    dropped[law.structure()] = str(err)
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "candidates_"):
            raise CausalPhysError("the MechanismLearner is not fitted; call fit(data, target, parents, environment)")

    def table(self, limit: int | None = 10):
        """The ranking as a ``pandas.DataFrame``: ``rank, formula, kind, parents, n_params, bic, score, r2, invariant,
        p_value, p_mean, p_variance, p_coefficients, stderr_issue`` (the first ``limit`` rows; ``None``: all)."""
        import pandas as pd

        self._check_fitted()
        rows = []
        for rank, c in enumerate(self.candidates_[:limit] if limit else self.candidates_):
            inv = c.invariance
            rows.append(
                {
                    "rank": rank,
                    "formula": str(c.equation.formula()),
                    "kind": c.equation.kind,
                    "parents": ",".join(c.equation.variables),
                    "n_params": c.equation.n_params,
                    "bic": c.bic,
                    "score": c.score,
                    "r2": c.r2,
                    "invariant": c.invariant,
                    "p_value": np.nan if inv is None else inv.p_value,
                    "p_mean": np.nan if inv is None else inv.p_mean,
                    "p_variance": np.nan if inv is None else inv.p_variance,
                    "p_coefficients": np.nan if inv is None else inv.p_coefficients,
                    "stderr_issue": c.equation.stderr_issue_ or "",
                }
            )
        return pd.DataFrame(rows)

    def mechanism(self, rank: int = 0, parents: Sequence[str] | None = None) -> SymbolicMechanism:
        """The equation ranked ``rank`` as a :class:`SymbolicMechanism` (Gaussian noise with the fit's residual
        standard deviation); ``parents`` default to the candidate parents given to :meth:`fit`."""
        self._check_fitted()
        c = self.candidates_[rank]
        return SymbolicMechanism(
            c.equation, parents=self.parents_ if parents is None else parents, invariance=c.invariance
        )

    def __repr__(self) -> str:
        head = f"MechanismLearner(max_terms={self.max_terms}, alpha={self.alpha}, noise={self.noise!r}, "
        head += f"library={self.library!r})"
        if hasattr(self, "best_"):
            head += f"\n  best: {self.best_.equation}  (invariant: {self.best_.invariant})"
        return head


def _rank_key(c: Candidate) -> tuple:
    """Invariant (or untested) first, then the rejected ones; by score within each group."""
    return (c.invariant is False, c.score)


def learn_equation(data, target: str, parents: Sequence[str], environment=None, **settings) -> MechanismLearner:
    """``MechanismLearner(**settings).fit(data, target, parents, environment)``."""
    return MechanismLearner(**settings).fit(data, target, parents, environment)
