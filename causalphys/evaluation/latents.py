"""How well learned latents recover true ones: MCC with optimal matching, probe R², a disentanglement table.

Pure functions of two arrays with one row per unit: ``true`` ``(n, d_true)`` (e.g. the SCM's latent variables or the
sources of a nonlinear ICA problem) and ``learned`` ``(n, d_learned)`` (e.g. a representation learner's
``predict(x)``). Both may be torch tensors or numpy arrays; a ``(n,)`` vector counts as one column. They are compared
in float64 on the CPU.

- :func:`mcc` / :func:`match_latents`: the mean correlation coefficient of nonlinear ICA (Hyvärinen & Morioka 2016,
  Khemakhem et al. 2020): ``MCC = (1/k) sum_j |rho(true_j, learned_{pi(j)})|`` with ``pi`` the one-to-one matching
  (``k = min(d_true, d_learned)`` pairs) that maximises the sum, found by
  :func:`scipy.optimize.linear_sum_assignment`. Pearson's ``rho`` is invariant to a permutation and a rescaling
  (with sign) of the latents; Spearman's to any strictly monotone transform of each latent.
- :func:`probe_r2`: held-out R² of a linear or nonlinear regression from all learned latents to each true latent.
- :func:`disentanglement_table`: the same R² for each block of learned latents (content, style, ...) and each true
  variable, as tidy rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from causalphys.errors import CausalPhysError
from causalphys.seeding import derive_seed

METHODS = ("pearson", "spearman")
PROBES = ("linear", "nonlinear")
RIDGE_ALPHAS = tuple(10.0**k for k in range(-6, 4))
"""The ridge penalties the probes choose from by leave-one-out (generalised) cross-validation."""


class LatentDataError(CausalPhysError, ValueError):
    """Latents that cannot be compared: a wrong shape, different row counts, NaN or infinite values, too few rows."""


@dataclass(frozen=True)
class LatentMatching:
    """The optimal one-to-one matching of true to learned latents (see :func:`match_latents`).

    ``true_index[i]`` is matched with ``learned_index[i]`` at absolute correlation ``correlations[i]`` (``k`` pairs,
    ``k = min(d_true, d_learned)``, in increasing ``true_index``); ``matrix`` is the full ``(d_true, d_learned)``
    matrix of absolute correlations; ``mcc`` is the mean of ``correlations``; ``method`` is ``"pearson"`` or
    ``"spearman"``.
    """

    mcc: float
    true_index: tuple[int, ...]
    learned_index: tuple[int, ...]
    correlations: tuple[float, ...]
    matrix: np.ndarray
    method: str


def as_matrix(values: object, name: str) -> np.ndarray:
    """``values`` (a tensor or array ``(n, d)`` or ``(n,)``) as a float64 numpy matrix ``(n, d)``.

    Raises :class:`LatentDataError` naming ``name`` for another number of dimensions, no columns, or a NaN or
    infinite entry (with the index of its first row).
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float64).numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise LatentDataError(f"{name} must be a numeric (n, d) array or tensor: {e}") from e
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise LatentDataError(f"{name} must have shape (n, d) with d >= 1, got {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.argwhere(bad)[0, 0])
        kind = "NaN" if np.isnan(array).any() else "infinite"
        raise LatentDataError(f"{name} has {int(bad.sum())} {kind} value(s), the first in row {row}")
    return array


def _pair(true: object, learned: object, min_rows: int) -> tuple[np.ndarray, np.ndarray]:
    t, z = as_matrix(true, "true"), as_matrix(learned, "learned")
    if len(t) != len(z):
        raise LatentDataError(f"true has {len(t)} rows but learned has {len(z)}; they must be the same units")
    if len(t) < min_rows:
        raise LatentDataError(f"need at least {min_rows} rows (units), got {len(t)}")
    return t, z


def _standardized(a: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit norm; a constant column becomes zeros (correlation 0 with anything)."""
    centred = a - a.mean(axis=0)
    norm = np.linalg.norm(centred, axis=0)
    return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 0)


def _ranks(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(a, axis=0)  # ties get their average rank, as in Spearman's rho


def correlation_matrix(true: object, learned: object, method: str = "pearson") -> np.ndarray:
    """``|rho(true_i, learned_j)|`` as a ``(d_true, d_learned)`` matrix (Pearson or Spearman; see the module doc).

    A constant column has correlation 0 with everything (rather than NaN): it carries no information.
    """
    if method not in METHODS:
        raise LatentDataError(f"method must be one of {list(METHODS)}, got {method!r}")
    t, z = _pair(true, learned, min_rows=2)
    if method == "spearman":
        t, z = _ranks(t), _ranks(z)
    return np.clip(np.abs(_standardized(t).T @ _standardized(z)), 0.0, 1.0)


def match_latents(true: object, learned: object, method: str = "pearson") -> LatentMatching:
    """The one-to-one matching of true and learned latents that maximises the summed absolute correlation.

    ``true`` is ``(n, d_true)``, ``learned`` ``(n, d_learned)``; with ``d_learned > d_true`` each true latent gets
    its own learned one and the rest are unmatched (and vice versa). Returns a :class:`LatentMatching` whose ``mcc``
    is the mean correlation coefficient (in ``[0, 1]``; 1 for a permuted, rescaled copy of the true latents).
    """
    from scipy.optimize import linear_sum_assignment

    matrix = correlation_matrix(true, learned, method)
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    correlations = matrix[rows, cols]
    return LatentMatching(
        mcc=float(correlations.mean()),
        true_index=tuple(int(i) for i in rows),
        learned_index=tuple(int(j) for j in cols),
        correlations=tuple(float(c) for c in correlations),
        matrix=matrix,
        method=method,
    )


def mcc(true: object, learned: object, method: str = "pearson") -> float:
    """The mean correlation coefficient ``(1/k) sum_j |rho(true_j, learned_pi(j))|`` under the optimal matching
    ``pi`` (see :func:`match_latents`, which also returns the matching). ``method``: ``"pearson"`` or
    ``"spearman"``. Shapes ``(n, d_true)`` and ``(n, d_learned)``."""
    return match_latents(true, learned, method).mcc


def _split(n: int, test_fraction: float, seed: int, max_train: int | None) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(test_fraction, (int, float)) or isinstance(test_fraction, bool) or not 0 < test_fraction < 1:
        raise LatentDataError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    if max_train is not None and (isinstance(max_train, bool) or not isinstance(max_train, int) or max_train < 2):
        raise LatentDataError(f"max_train must be an int >= 2 or None, got {max_train!r}")
    n_test = int(round(test_fraction * n))
    if n_test < 2 or n - n_test < 2:
        raise LatentDataError(
            f"a probe needs at least 2 training and 2 test rows: {n} rows with test_fraction={test_fraction} "
            f"give {n - n_test} and {n_test}"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, "probe_split"))).numpy()
    test, train = order[:n_test], order[n_test:]
    if max_train is not None:
        train = train[:max_train]
    return train, test


def _probe(kind: str, n_inputs: int, n_train: int, seed: int, n_components: int):
    """An unfitted scikit-learn regressor: standardise, then ridge regression on the inputs (``linear``) or on
    ``n_components`` Nyström features of the RBF kernel ``exp(-||a - b||² / n_inputs)`` (``nonlinear``: an
    approximate kernel ridge regression); the ridge penalty of each target is chosen by efficient leave-one-out
    cross-validation among :data:`RIDGE_ALPHAS`. Deterministic given ``seed``."""
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ridge = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True)
    if kind == "linear":
        return make_pipeline(StandardScaler(), ridge)
    features = Nystroem(
        kernel="rbf",
        gamma=1.0 / n_inputs,
        n_components=min(n_components, n_train),
        random_state=derive_seed(seed, "nystroem") % 2**32,
    )
    return make_pipeline(StandardScaler(), features, ridge)


def probe_r2(
    learned: object,
    true: object,
    probe: str = "linear",
    seed: int = 0,
    test_fraction: float = 0.25,
    max_train: int | None = 10_000,
    n_components: int = 300,
) -> np.ndarray:
    """Held-out ``R²_j = 1 - sum_i (t_ij - t̂_ij)² / sum_i (t_ij - mean_j)²`` of a probe ``t̂ = g(learned)`` for
    each true latent ``j``; returns ``(d_true,)`` float64.

    ``learned`` ``(n, d_learned)`` is the probe's input, ``true`` ``(n, d_true)`` its targets. The rows are split by
    a permutation seeded with ``derive_seed(seed, "probe_split")``: ``round(test_fraction · n)`` test rows, the
    rest (at most ``max_train`` of them; ``None``: all) to fit. ``probe``: ``"linear"`` (ridge regression) or
    ``"nonlinear"`` (approximate RBF kernel ridge regression with ``n_components`` Nyström features); see
    :func:`_probe`. R² is 1 for a perfect prediction, about 0 when ``learned`` says nothing about ``true_j``
    (negative when the probe does worse than the test mean). A constant true latent gets R² 0.
    """
    if probe not in PROBES:
        raise LatentDataError(f"probe must be one of {list(PROBES)}, got {probe!r}")
    if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
        raise LatentDataError(f"n_components must be a positive int, got {n_components!r}")
    t, z = _pair(true, learned, min_rows=4)
    train, test = _split(len(t), test_fraction, seed, max_train)
    model = _probe(probe, z.shape[1], len(train), seed, n_components)
    model.fit(z[train], t[train])
    predicted = model.predict(z[test]).reshape(len(test), -1)
    residual = ((t[test] - predicted) ** 2).sum(axis=0)
    total = ((t[test] - t[test].mean(axis=0)) ** 2).sum(axis=0)
    return np.divide(total - residual, total, out=np.zeros_like(total), where=total > 0)


def _blocks(blocks: Mapping[str, Sequence[int]] | None, d_learned: int) -> dict[str, list[int]]:
    if blocks is None:
        return {f"z{j}": [j] for j in range(d_learned)}
    if not isinstance(blocks, Mapping) or not blocks:
        raise LatentDataError(f"blocks must be a non-empty mapping of block name -> learned columns, got {blocks!r}")
    checked = {}
    for name, columns in blocks.items():
        if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence) or len(columns) == 0:
            raise LatentDataError(f"blocks[{name!r}] must be a non-empty list of column indices, got {columns!r}")
        for c in columns:
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < d_learned:
                raise LatentDataError(f"blocks[{name!r}] has column {c!r}, not an index in [0, {d_learned})")
        checked[str(name)] = [int(c) for c in columns]
    return checked


def disentanglement_table(
    learned: object,
    true: object,
    blocks: Mapping[str, Sequence[int]] | None = None,
    names: Sequence[str] | None = None,
    probe: str = "linear",
    seed: int = 0,
    **probe_settings,
) -> list[dict[str, object]]:
    """Which block of learned latents predicts which true variable: one tidy row per (block, variable).

    ``learned`` ``(n, d_learned)``; ``true`` ``(n, d_true)``; ``blocks`` maps a block name to its learned columns
    (e.g. ``{"content": [0, 1], "style": [2, 3]}``; default: each column its own block ``z0, z1, ...``); ``names``
    names the true columns (default ``s0, s1, ...``). Each row is ``{"block", "variable", "probe", "metric": "r2",
    "value"}`` with ``value`` the held-out R² of a probe from the block's columns to the variable (:func:`probe_r2`
    with the same ``probe``, ``seed`` and ``probe_settings``, so every block sees the same split). A block that
    holds a variable (and only it) has R² near 1 in that variable's rows and near 0 elsewhere. Pivot with
    ``pandas.DataFrame(rows).pivot(index="block", columns="variable", values="value")``.
    """
    t, z = _pair(true, learned, min_rows=4)
    checked = _blocks(blocks, z.shape[1])
    if names is None:
        names = [f"s{j}" for j in range(t.shape[1])]
    names = [str(v) for v in names]
    if len(names) != t.shape[1] or len(set(names)) != len(names):
        raise LatentDataError(f"names must be {t.shape[1]} distinct names (one per true column), got {names}")
    rows = []
    for block, columns in checked.items():
        scores = probe_r2(z[:, columns], t, probe=probe, seed=seed, **probe_settings)
        for variable, value in zip(names, scores):
            rows.append({"block": block, "variable": variable, "probe": probe, "metric": "r2", "value": float(value)})
    return rows
