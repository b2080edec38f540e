"""Atomic columns as points: a lattice fitted to found columns, and found columns scored against a reference.

A column finder (a classical fit, a trained network) gives column positions ``(m, 2)`` as ``(x, y)`` pixels. Two
questions a microscopist asks of them:

- **Which lattice do they make?** :func:`fit_lattice` assigns each column its cell indices ``n`` (and its site of
  the motif) from a guessed basis and fits ``p = o + B (n + s)`` by least squares: the basis ``B`` (its columns the
  lattice vectors in pixels), the origin, and each column's residual — the distortion that no lattice explains
  (scan noise, strain fields, fit errors). The lattice constant and the strain are read from ``B``.
- **How well were they found?** :func:`match_columns` pairs found and reference columns one to one within a
  radius (the assignment that minimises the total distance, ``scipy.optimize.linear_sum_assignment``): precision,
  recall and the position errors of the pairs.

For a column finder that outputs maps (one channel per column kind, a peak of height ~1 at each column, as
:class:`~causalphys.microscopy.imaging.ColumnMap` draws them), :func:`map_peaks` reads the columns of a whole batch
of maps at once and :func:`score_maps` scores predicted maps against true ones — the harness's dense metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from causalphys.errors import ParameterError
from causalphys.microscopy.analysis import LatticeVectors


def _points(positions, name: str) -> np.ndarray:
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ParameterError(f"{name} must be positions (m, 2) as (x, y) pixels, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ParameterError(f"{name} must be finite (no NaN or inf positions)")
    return p


def real_space_basis(lattice: LatticeVectors) -> np.ndarray:
    """The lattice vectors ``(2, 2)`` in pixels (columns ``b₁``, ``b₂``) dual to the two reflections of ``lattice``
    (``kᵢ · bⱼ = δᵢⱼ``, ``k`` in cycles per pixel): the lattice whose planes give those reflections."""
    k = np.asarray(lattice.k, dtype=np.float64)  # rows k1, k2
    if abs(np.linalg.det(k)) < 1e-12:
        raise ParameterError(f"the two reflections {lattice.k} are parallel: no lattice is dual to them")
    return np.linalg.inv(k)


@dataclass(frozen=True)
class LatticeFit:
    """A lattice fitted to column positions (pixels): ``origin`` ``(2,)``, ``basis`` ``(2, 2)`` (columns the lattice
    vectors), per column its cell ``indices`` ``(m, 2)``, its ``site`` of the motif ``(m,)`` and its ``residuals``
    ``(m, 2)`` from the fitted lattice; ``rms`` the root-mean-square residual length (pixels)."""

    origin: np.ndarray
    basis: np.ndarray
    indices: np.ndarray
    site: np.ndarray
    residuals: np.ndarray
    rms: float

    def lengths(self, pixel_size: float) -> tuple[float, float]:
        """The two lattice vectors' lengths in Å."""
        return tuple(float(v) * pixel_size for v in np.linalg.norm(self.basis, axis=0))

    def angle(self) -> float:
        """The angle between the lattice vectors in degrees."""
        b1, b2 = self.basis.T
        return math.degrees(math.acos(float(b1 @ b2) / float(np.linalg.norm(b1) * np.linalg.norm(b2))))


def fit_lattice(
    positions,
    basis,
    motif: Sequence[tuple[float, float]] = ((0.0, 0.0),),
    iterations: int = 3,
) -> LatticeFit:
    """Fit ``p = o + B (n + s)`` to column ``positions`` ``(m, 2)`` (pixels), starting from ``basis`` ``(2, 2)``.

    ``motif`` lists the fractional site offsets ``s`` of the cell. Each column is assigned the cell ``n`` and site
    ``s`` whose ideal position is nearest under the current lattice (origin: the column nearest the centroid, at
    site 0), then ``o`` and ``B`` are solved by linear least squares; ``iterations`` rounds of the two refine a guess
    that is off by up to about a quarter of a cell across the field. Needs at least three columns that are not in a
    line.
    """
    p = _points(positions, "positions")
    b = np.asarray(basis, dtype=np.float64)
    if b.shape != (2, 2) or not np.isfinite(b).all() or abs(np.linalg.det(b)) < 1e-9:
        raise ParameterError(f"basis must be an invertible (2, 2) matrix (columns b1, b2 in pixels), got {b.tolist()}")
    s = np.asarray(motif, dtype=np.float64).reshape(-1, 2)
    if len(p) < 3:
        raise ParameterError(f"fitting a lattice needs at least 3 columns, got {len(p)}")
    if iterations < 1:
        raise ParameterError(f"iterations must be >= 1, got {iterations}")
    origin = p[np.argmin(np.linalg.norm(p - p.mean(0), axis=1))]
    for _ in range(iterations):
        frac = (p - origin) @ np.linalg.inv(b).T  # (m, 2) fractional coordinates
        cells = np.round(frac[:, None, :] - s[None, :, :])  # (m, S, 2): the nearest cell for each site
        miss = np.linalg.norm(((cells + s[None]) - frac[:, None, :]) @ b.T, axis=-1)  # (m, S) in pixels
        site = miss.argmin(1)
        n = cells[np.arange(len(p)), site]
        design = n + s[site]  # (m, 2): p = o + B design
        a = np.concatenate([np.ones((len(p), 1)), design], 1)  # (m, 3)
        if np.linalg.matrix_rank(a) < 3:
            raise ParameterError("the columns lie in a line: a 2-D lattice cannot be fitted to them")
        solution, *_ = np.linalg.lstsq(a, p, rcond=None)  # (3, 2): rows o, B^T
        origin, b = solution[0], solution[1:].T
    residuals = p - (origin + design @ b.T)
    rms = float(np.sqrt((residuals**2).sum(1).mean()))
    return LatticeFit(origin, b, n.astype(np.int64), site.astype(np.int64), residuals, rms)


@dataclass(frozen=True)
class ColumnMatch:
    """Found columns scored against reference columns within ``radius`` (pixels).

    ``pairs`` ``(t, 2)``: indices (found, reference) of the matched columns, into the arrays given; ``errors``
    ``(t,)`` their distances (pixels); ``precision = t / (t + false_positives)``, ``recall = t / n_reference``,
    where false positives are the unmatched found columns inside the scored field and references those inside it
    (``margin``: a found column just outside the field that matches a reference inside counts; one outside that
    matches nothing does not). Matches of several column kinds pool with :func:`pooled`.
    """

    pairs: np.ndarray
    errors: np.ndarray
    precision: float
    recall: float
    n_found: int
    n_reference: int
    radius: float
    false_positives: int

    @property
    def median_error(self) -> float:
        """The median distance of the matched pairs (pixels; NaN with no pair)."""
        return float(np.median(self.errors)) if len(self.errors) else math.nan


@dataclass(frozen=True)
class PooledMatch:
    """Several :class:`ColumnMatch` es (one per column kind) counted together: a column is found only where a
    column of its own kind is. ``f1`` is the harmonic mean of precision and recall (0 with no match)."""

    matched: int
    false_positives: int
    n_reference: int
    errors: np.ndarray

    @property
    def precision(self) -> float:
        total = self.matched + self.false_positives
        return self.matched / total if total else math.nan

    @property
    def recall(self) -> float:
        return self.matched / self.n_reference if self.n_reference else math.nan

    @property
    def f1(self) -> float:
        if not self.matched:
            return 0.0
        return 2 * self.precision * self.recall / (self.precision + self.recall)

    @property
    def median_error(self) -> float:
        """The median distance of the matched pairs (pixels; NaN with no pair)."""
        return float(np.median(self.errors)) if len(self.errors) else math.nan


def pooled(matches) -> PooledMatch:
    """The matches of several column kinds counted together (:class:`PooledMatch`)."""
    matches = list(matches)
    if not matches:
        raise ParameterError("pooled needs at least one ColumnMatch")
    return PooledMatch(
        matched=sum(len(m.pairs) for m in matches),
        false_positives=sum(m.false_positives for m in matches),
        n_reference=sum(m.n_reference for m in matches),
        errors=np.concatenate([m.errors for m in matches]),
    )


def inside(positions, shape: tuple[int, int], margin: float) -> np.ndarray:
    """A mask ``(m,)`` of the positions ``(x, y)`` at least ``margin`` pixels inside an image of ``shape`` (H, W)."""
    p = _points(positions, "positions")
    h, w = shape
    return (p[:, 0] >= margin) & (p[:, 0] <= w - 1 - margin) & (p[:, 1] >= margin) & (p[:, 1] <= h - 1 - margin)


def match_columns(
    found, reference, radius: float, shape: tuple[int, int] | None = None, margin: float = 0.0
) -> ColumnMatch:
    """Pair ``found`` ``(m, 2)`` with ``reference`` ``(r, 2)`` columns (pixels) one to one within ``radius``.

    With ``shape`` (H, W) and ``margin``, only reference columns at least ``margin`` pixels inside the image are
    scored, and a found column is a false positive only if it lies that far inside too (so a column on the edge of
    the scored field is neither missed nor invented by a shift smaller than ``radius``). The pairing minimises the
    total distance (``scipy.optimize.linear_sum_assignment``); pairs farther than ``radius`` do not count.
    """
    from scipy.optimize import linear_sum_assignment

    f = _points(found, "found")
    ref = _points(reference, "reference")
    if not radius > 0:
        raise ParameterError(f"radius must be > 0 (pixels), got {radius}")
    ref_index = np.flatnonzero(inside(ref, shape, margin)) if shape is not None else np.arange(len(ref))
    ref = ref[ref_index]
    if shape is not None:
        f_inner = inside(f, shape, margin)
        candidates = inside(f, shape, margin - radius)
    else:
        f_inner = candidates = np.ones(len(f), dtype=bool)
    index = np.flatnonzero(candidates)
    pairs = np.zeros((0, 2), dtype=np.int64)
    errors = np.zeros(0)
    if len(index) and len(ref):
        distance = np.linalg.norm(f[index][:, None, :] - ref[None, :, :], axis=-1)
        cost = np.where(distance <= radius, distance, radius * 1e3 + distance)
        rows, cols = linear_sum_assignment(cost)
        close = distance[rows, cols] <= radius
        pairs = np.stack([index[rows[close]], ref_index[cols[close]]], 1).astype(np.int64)
        errors = distance[rows[close], cols[close]]
    matched = np.zeros(len(f), dtype=bool)
    matched[pairs[:, 0]] = True
    false_positives = int((f_inner & ~matched).sum())
    t = len(pairs)
    precision = t / (t + false_positives) if t + false_positives else math.nan
    recall = t / len(ref) if len(ref) else math.nan
    return ColumnMatch(pairs, errors, precision, recall, int(f_inner.sum()), len(ref), float(radius), false_positives)


def map_peaks(maps: torch.Tensor, min_height: float = 0.3, window: int = 5) -> list[list[np.ndarray]]:
    """The peaks of a batch of maps ``(n, K, H, W)``: ``[[(m, 2) (x, y) pixels per channel] per map]``.

    A peak is a pixel that is the largest in its ``window`` x ``window`` neighbourhood (of equal values, the first
    in raster order) and at least ``min_height``, not on the outermost pixel ring; its sub-pixel position is the
    vertex of the parabola through the logarithm of it and its two neighbours along each axis — exact for a
    Gaussian peak."""
    if maps.dim() != 4:
        raise ParameterError(f"maps must be (n, K, H, W), got shape {tuple(maps.shape)}")
    if not (isinstance(window, int) and window >= 3 and window % 2 == 1):
        raise ParameterError(f"window must be an odd number of pixels >= 3, got {window!r}")
    x = maps.detach().to("cpu", torch.float64)
    n, k, h, w = x.shape
    # ties (a peak midway between two pixels) go to the first pixel in raster order: one peak, not two
    ranked = x - 1e-9 * torch.arange(h * w, dtype=x.dtype).view(h, w) / (h * w)
    top = F.max_pool2d(ranked.reshape(n * k, 1, h, w), window, stride=1, padding=window // 2).view_as(x)
    peak = (ranked == top) & (x >= min_height)
    peak[..., :1, :] = peak[..., -1:, :] = peak[..., :, :1] = peak[..., :, -1:] = False
    unit, channel, row, col = peak.nonzero(as_tuple=True)
    logs = x.clamp_min(1e-12).log()

    def vertex(before: torch.Tensor, centre: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
        curvature = before - 2 * centre + after
        safe = torch.where(curvature < 0, curvature, -torch.ones_like(curvature))
        return torch.where(curvature < 0, 0.5 * (before - after) / safe, 0.0).clamp(-0.5, 0.5)

    c = logs[unit, channel, row, col]
    dx = vertex(logs[unit, channel, row, col - 1], c, logs[unit, channel, row, col + 1])
    dy = vertex(logs[unit, channel, row - 1, col], c, logs[unit, channel, row + 1, col])
    xy = torch.stack([col + dx, row + dy], 1).numpy()
    key = (unit * k + channel).numpy()
    out: list[list[np.ndarray]] = [[np.zeros((0, 2)) for _ in range(k)] for _ in range(n)]
    for index in np.unique(key):
        out[index // k][index % k] = xy[key == index]
    return out


def score_maps(
    predicted: torch.Tensor,
    true: torch.Tensor,
    pixel_size: float,
    radius: float = 0.5,
    margin: float = 1.5,
    min_height: float = 0.3,
) -> PooledMatch:
    """Predicted column maps against the true ones, both ``(n, K, H, W)`` at ``pixel_size`` Å/px: the peaks of each
    (:func:`map_peaks`; the true maps' peaks at half their height of 1) matched one to one per map and kind within
    ``radius`` Å, columns nearer than ``margin`` Å to the border not scored (:func:`match_columns`), pooled over
    every map and kind."""
    if tuple(predicted.shape) != tuple(true.shape):
        raise ParameterError(f"predicted maps {tuple(predicted.shape)} and true maps {tuple(true.shape)} differ")
    if not (math.isfinite(pixel_size) and pixel_size > 0 and radius > 0 and margin >= 0):
        raise ParameterError(
            f"pixel_size and radius must be > 0 and margin >= 0 (Å), got {pixel_size}, {radius}, {margin}"
        )
    window = 2 * max(1, int(round(radius / pixel_size))) + 1
    shape = tuple(true.shape[-2:])
    found = map_peaks(predicted, min_height, window)
    reference = map_peaks(true, 0.5, window)
    return pooled(
        match_columns(f, r, radius / pixel_size, shape=shape, margin=margin / pixel_size)
        for fs, rs in zip(found, reference)
        for f, r in zip(fs, rs)
    )


def column_metrics(predicted: torch.Tensor, true: torch.Tensor, pixel_size: float) -> dict[str, float]:
    """The harness's scores of column maps ``(n, K, H, W)`` at ``pixel_size`` Å/px (a column benchmark's
    ``map_metrics``): ``column_precision``, ``column_recall``, ``column_f1`` of the columns matched within 0.5 Å
    (:func:`score_maps`) and the matched columns' median ``position_error_pm``."""
    match = score_maps(predicted, true, pixel_size)
    return {
        "column_precision": match.precision,
        "column_recall": match.recall,
        "column_f1": match.f1,
        "position_error_pm": match.median_error * pixel_size * 100,
    }
