"""Sparse regression over a term library: which sets of terms (supports) are worth fitting.

Two sources of supports, both over the columns of ``Φ (n, k)``, the constant term always kept as an intercept:

- every subset of at most ``max_terms`` non-constant terms (best-subset search; skipped past ``max_combinations``);
- the path of sequentially thresholded least squares (``pysindy.STLSQ``, Brunton et al. 2016) over a grid of
  thresholds, on standardised columns and target: supports of any size.

Each support is scored by its least-squares fit and the Bayesian information criterion
``BIC = n log(RSS / n) + k log n`` (``k`` fitted coefficients), or the extended BIC of Chen & Chen (2008),
``EBIC_γ = BIC + 2γ log C(P, j)`` for ``j`` of the ``P`` non-constant library terms: searching many supports of
size ``j`` makes one of them fit better by chance, and EBIC charges for the ``C(P, j)`` that were searched
(``γ = 0`` is BIC). This is the parsimony-penalised fit the learner ranks by.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np

from causalphys.discovery.library import Features
from causalphys.errors import ParameterError

THRESHOLDS = tuple(np.geomspace(0.02, 2.0, 12))
"""Default STLSQ thresholds, on coefficients of unit-variance columns for a unit-variance target."""


def bic(rss: float, n: int, k: int) -> float:
    """``n log(RSS / n) + k log n``: the Bayesian information criterion of a Gaussian fit with ``k`` coefficients."""
    return n * math.log(max(rss, 1e-300) / n) + k * math.log(n)


def ebic(rss: float, n: int, k: int, library_size: int, chosen: int, gamma: float) -> float:
    """``BIC + 2γ log C(library_size, chosen)``: the extended BIC of ``chosen`` terms out of ``library_size``."""
    return bic(rss, n, k) + 2.0 * gamma * math.log(math.comb(max(library_size, chosen), chosen))


@dataclass(frozen=True)
class Support:
    """A set of columns of the library (``columns``, sorted, the constant included), its least-squares fit, BIC and
    score (EBIC with the search's ``gamma``; BIC for ``gamma = 0``)."""

    columns: tuple[int, ...]
    rss: float
    bic: float
    score: float


def stlsq_supports(phi: np.ndarray, y: np.ndarray, thresholds=THRESHOLDS, alpha: float = 1e-6) -> list[tuple[int, ...]]:
    """The supports ``pysindy.STLSQ`` finds for each threshold (columns with a non-zero coefficient)."""
    import pysindy as ps

    scale = phi.std(axis=0)
    scale[scale == 0] = 1.0  # the constant column: kept as is
    z = phi / scale
    t = (y - y.mean()) / (y.std() or 1.0)
    out = []
    for threshold in thresholds:
        optimizer = ps.STLSQ(threshold=float(threshold), alpha=alpha, max_iter=50)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # STLSQ warns when a threshold removes every term
            optimizer.fit(z, t)
        out.append(tuple(int(i) for i in np.flatnonzero(optimizer.coef_.ravel())))
    return out


def candidate_supports(
    features: Features,
    y: np.ndarray,
    *,
    max_terms: int = 3,
    max_combinations: int = 20_000,
    thresholds=THRESHOLDS,
    gamma: float = 0.0,
) -> list[Support]:
    """Every support from best-subset search and the STLSQ path (module docstring), fitted, sorted by score
    (EBIC with ``gamma``; BIC for ``gamma = 0``)."""
    if max_terms < 1:
        raise ParameterError(f"max_terms must be >= 1, got {max_terms}")
    phi = features.matrix
    y = np.asarray(y, dtype=np.float64)
    n, k = phi.shape
    constant = [i for i, t in enumerate(features.terms) if t.is_constant]
    others = [i for i in range(k) if i not in constant]
    supports: set[tuple[int, ...]] = {tuple(constant)} if constant else set()
    count = sum(math.comb(len(others), r) for r in range(1, min(max_terms, len(others)) + 1))
    if count <= max_combinations:
        for r in range(1, min(max_terms, len(others)) + 1):
            supports.update(tuple(sorted(constant + list(c))) for c in itertools.combinations(others, r))
    if others:
        for cols in stlsq_supports(phi, y, thresholds):
            chosen = [c for c in cols if c in others]
            if chosen:
                supports.add(tuple(sorted(constant + chosen)))
    scored = []
    for cols in supports:
        if not cols or len(cols) >= n:
            continue
        sub = phi[:, cols]
        coef, *_ = np.linalg.lstsq(sub, y, rcond=None)
        rss = float(np.sum((y - sub @ coef) ** 2))
        chosen = len([c for c in cols if c in others])
        scored.append(Support(cols, rss, bic(rss, n, len(cols)), ebic(rss, n, len(cols), len(others), chosen, gamma)))
    return sorted(scored, key=lambda s: (s.score, s.columns))
