"""Measurements on images, as a microscopist makes them: lattice reflections from the Fourier transform, and the
widths of the atomic columns from 2-D Gaussian fits."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from causalphys.errors import ParameterError


def fft_peak(image: torch.Tensor, guess: tuple[float, float], radius: float = 0.02, upsample: int = 8):
    """The position ``(k_x, k_y)`` in cycles per pixel of the strongest Fourier peak within ``radius`` of ``guess``.

    ``image`` ``(H, W)``; a Hann window suppresses edge leakage, zero padding by ``upsample`` and a parabolic fit
    through the three samples around the maximum refine the position to a small fraction of ``1 / (upsample · N)``
    (along an axis where the maximum is not a local one — on the rim of the disc — the sample itself is returned, so
    the answer always lies within half a sample of the disc).
    """
    image = image.to(torch.float64)
    h, w = image.shape
    window = torch.hann_window(h, periodic=False, dtype=torch.float64).view(-1, 1) * torch.hann_window(
        w, periodic=False, dtype=torch.float64
    ).view(1, -1)
    x = (image - image.mean()) * window
    hp, wp = upsample * h, upsample * w
    power = torch.fft.fft2(x, s=(hp, wp)).abs() ** 2
    ky = torch.fft.fftfreq(hp, dtype=torch.float64).view(-1, 1)
    kx = torch.fft.fftfreq(wp, dtype=torch.float64).view(1, -1)
    near = (kx - guess[0]) ** 2 + (ky - guess[1]) ** 2 <= radius**2
    masked = torch.where(near, power, torch.zeros_like(power))
    iy, ix = divmod(int(masked.argmax()), wp)

    def refine(values: torch.Tensor) -> float:
        left, centre, right = (float(v) for v in values)
        denom = left - 2 * centre + right
        if centre < left or centre < right or denom >= 0:  # the maximum sits on the rim of the search disc, on
            return 0.0  # the slope of a peak outside it: no vertex to refine to (it would land far away)
        return 0.5 * (left - right) / denom

    dy = refine(power[[(iy - 1) % hp, iy, (iy + 1) % hp], ix])
    dx = refine(power[iy, [(ix - 1) % wp, ix, (ix + 1) % wp]])
    return float(kx[0, ix]) + dx / wp, float(ky[iy, 0]) + dy / hp


@dataclass(frozen=True)
class LatticeVectors:
    """The two strongest independent lattice reflections of an image.

    ``k`` ``(2, 2)``: the reflections ``(k_x, k_y)`` in cycles per pixel (x along the fast axis, y down the rows),
    strongest first; ``spacings`` ``(d₁, d₂)`` the lattice-plane spacings ``d = Δx / |k|`` in Å; ``angle`` the angle
    between the two reflections in degrees (``(0, 180)``); ``power`` their Fourier power relative to the first.
    """

    k: tuple[tuple[float, float], tuple[float, float]]
    spacings: tuple[float, float]
    angle: float
    power: tuple[float, float]


def lattice_vectors(
    image: torch.Tensor,
    pixel_size: float,
    min_angle: float = 20.0,
    k_min: float | None = None,
    k_max: float = 0.5,
    upsample: int = 8,
) -> LatticeVectors:
    """The lattice read from the Fourier transform of ``image`` ``(H, W)`` with pixel size ``pixel_size`` (Å).

    The power spectrum ``|F[(x - x̄) · w]|²`` (``w`` a 2-D Hann window, zero-padded to twice the size) is searched
    for its local maxima (3 x 3) with
    ``k_min ≤ |k| ≤ k_max`` cycles per pixel (``k_min`` defaults to ``3 / min(H, W)``, outside the window's leakage
    around ``k = 0``), one of each ``±k`` pair. The strongest is the first reflection; the second is the strongest
    whose direction differs from the first's by at least ``min_angle`` degrees (modulo 180°: ``-k`` is the same
    reflection). Each is refined by :func:`fft_peak` within one Fourier sample of the maximum. A reflection ``k``
    belongs to lattice planes of spacing ``d = Δx / |k|``; for a lattice of constant ``a`` seen along a zone axis
    the ratio ``d₁ / d₂`` and the angle identify the axis (cubic: [001] gives ``1`` at 90°, [110] ``√2`` at 90°).
    """
    image = torch.as_tensor(image).to(torch.float64)
    if image.dim() != 2 or min(image.shape) < 8:
        raise ParameterError(f"lattice_vectors needs one image (H, W) of at least 8x8, got {tuple(image.shape)}")
    if not (math.isfinite(pixel_size) and pixel_size > 0):
        raise ParameterError(f"pixel_size must be > 0 (Å), got {pixel_size}")
    h, w = image.shape
    k_min = 3.0 / min(h, w) if k_min is None else float(k_min)
    if not 0 <= k_min < k_max:
        raise ParameterError(f"need 0 <= k_min < k_max (cycles per pixel), got k_min={k_min}, k_max={k_max}")
    window = torch.hann_window(h, periodic=False, dtype=torch.float64).view(-1, 1) * torch.hann_window(
        w, periodic=False, dtype=torch.float64
    ).view(1, -1)
    # padded twice: the maxima's powers are ranked within 0.4 dB of the peaks' (the window's scalloping loss)
    power = torch.fft.fft2((image - image.mean()) * window, s=(2 * h, 2 * w)).abs() ** 2
    ky = torch.fft.fftfreq(2 * h, dtype=torch.float64).view(-1, 1).expand(2 * h, 2 * w)
    kx = torch.fft.fftfreq(2 * w, dtype=torch.float64).view(1, -1).expand(2 * h, 2 * w)
    radius = torch.hypot(kx, ky)
    # the 3 x 3 neighbourhood on the periodic spectrum (a maximum next to k = 0 or at the Nyquist edge is found too)
    neighbours = torch.stack([power.roll((dy, dx), (0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    half = (ky > 0) | ((ky == 0) & (kx > 0))
    peak = (power >= neighbours.amax(0)) & half & (radius >= k_min) & (radius <= k_max)
    order = torch.argsort(power[peak], descending=True)
    candidates = torch.stack([kx[peak], ky[peak]], -1)[order]
    if len(candidates) < 2:
        raise ParameterError(f"found fewer than two Fourier maxima with {k_min:g} <= |k| <= {k_max:g} cycles/px")
    first = candidates[0]
    direction = torch.atan2(candidates[:, 1], candidates[:, 0]) - torch.atan2(first[1], first[0])
    apart = torch.remainder(torch.rad2deg(direction), 180.0)
    independent = ((apart >= min_angle) & (apart <= 180.0 - min_angle)).nonzero()
    if len(independent) == 0:
        raise ParameterError(f"no Fourier maximum at least {min_angle:g}° away from the strongest reflection {first}")
    second = candidates[int(independent[0])]
    step = 1.0 / min(h, w)
    refined = [fft_peak(image, (float(c[0]), float(c[1])), radius=step, upsample=upsample) for c in (first, second)]
    peaks = [power[peak][order[0]], power[peak][order[int(independent[0])]]]
    norms = [math.hypot(*k) for k in refined]
    cosine = (refined[0][0] * refined[1][0] + refined[0][1] * refined[1][1]) / (norms[0] * norms[1])
    return LatticeVectors(
        k=(refined[0], refined[1]),
        spacings=(pixel_size / norms[0], pixel_size / norms[1]),
        angle=math.degrees(math.acos(max(-1.0, min(1.0, cosine)))),
        power=(1.0, float(peaks[1] / peaks[0])),
    )


CUBIC_ZONE_AXES: dict[str, tuple[float, float]] = {
    "[001]": (1.0, 90.0),  # a square lattice of columns
    "[110]": (math.sqrt(2), 90.0),  # a rectangle a by a/√2
    "[111]": (1.0, 60.0),  # a hexagonal pattern
}
"""The low-index zone axes of a cubic crystal by the projected lattice they show: the ratio of the two lattice
spacings of the first independent reflections (longer over shorter) and the angle between them (folded to <= 90°)."""


@dataclass(frozen=True)
class ZoneAxis:
    """A cubic zone axis read from an image: ``axis`` (a key of :data:`CUBIC_ZONE_AXES`), the measured spacing
    ``ratio`` and ``angle`` (degrees, folded to <= 90°), and ``mismatch``, the relative distance to the axis's ideal
    pattern (``|ratio / ideal - 1| + |angle - ideal| / 90``; the other axes' in ``others``)."""

    axis: str
    ratio: float
    angle: float
    mismatch: float
    others: dict[str, float]


def cubic_zone_axis(lattice: LatticeVectors, tolerance: float = 0.05) -> ZoneAxis:
    """The zone axis of a cubic crystal whose image gave ``lattice`` (:func:`lattice_vectors`): the axis of
    :data:`CUBIC_ZONE_AXES` whose spacing ratio and angle lie closest to the measured ones. Raises if none lies within
    ``tolerance`` (an image of another axis, a strained or badly calibrated scan). A reflection and one of its
    harmonics are never the pair (they are parallel); a ratio of 2 between parallel-cell reflections of one axis
    (``(001)`` and ``(002)``) cannot occur for the same reason."""
    d1, d2 = lattice.spacings
    ratio = max(d1, d2) / min(d1, d2)
    angle = min(lattice.angle, 180.0 - lattice.angle)
    scores = {
        axis: abs(ratio / ideal_ratio - 1) + abs(angle - ideal_angle) / 90.0
        for axis, (ideal_ratio, ideal_angle) in CUBIC_ZONE_AXES.items()
    }
    best = min(scores, key=scores.get)
    if scores[best] > tolerance:
        raise ParameterError(
            f"no cubic zone axis fits the lattice (spacings {d1:.3f} and {d2:.3f} Å, ratio {ratio:.3f}, angle "
            f"{angle:.1f}°): the closest, {best}, is {scores[best]:.3f} away (tolerance {tolerance})"
        )
    return ZoneAxis(best, ratio, angle, scores[best], {k: v for k, v in scores.items() if k != best})


@dataclass(frozen=True)
class ColumnFits:
    """2-D Gaussian fits to the atomic columns of an image, one entry per column (``m`` columns).

    ``position`` ``(m, 2)`` the centres ``(x, y)`` in pixels; ``sigma`` ``(m,)`` the Gaussian widths in Å;
    ``amplitude`` and ``background`` ``(m,)`` in the image's units; ``position_error`` ``(m, 2)`` the standard errors
    of the centres in pixels (from the fit's Jacobian and its residual variance: the noise's share, not a bias).
    """

    position: np.ndarray
    sigma: np.ndarray
    amplitude: np.ndarray
    background: np.ndarray
    position_error: np.ndarray | None = None


@dataclass(frozen=True)
class ColumnMaxima:
    """Local maxima of a smoothed image: ``columns`` ``(m, 2)`` the candidates to fit and ``neighbours`` ``(M, 2)``
    the fainter maxima whose tails a fit includes, both ``(x, y)`` in whole pixels."""

    columns: np.ndarray
    neighbours: np.ndarray


def column_maxima(
    image: torch.Tensor,
    pixel_size: float,
    radius: float = 0.8,
    min_height: float = 0.5,
    smooth: float = 1.0,
    neighbour_height: float = 0.1,
) -> ColumnMaxima:
    """The atomic columns' maxima: local maxima of ``image`` ``(H, W)`` smoothed by a Gaussian of ``smooth`` pixels,
    at least ``radius`` Å apart, standing ``min_height`` of the way from the 1st to the 99th percentile of the smoothed
    image (``neighbours``: ``neighbour_height`` of the way), the columns at least ``radius`` from the border."""
    from scipy import ndimage

    data = _image_array(image, "column_maxima")
    if not (math.isfinite(pixel_size) and pixel_size > 0) or not radius > 0:
        raise ParameterError(f"pixel_size and radius must be > 0 (Å), got {pixel_size} and {radius}")
    size = int(math.ceil(radius / pixel_size))
    smoothed = ndimage.gaussian_filter(data, smooth, mode="mirror") if smooth > 0 else data
    low, high = np.percentile(smoothed, [1, 99])
    maxima = smoothed == ndimage.maximum_filter(smoothed, size=2 * size + 1, mode="mirror")
    neighbours = np.argwhere(maxima & (smoothed >= low + neighbour_height * (high - low)))[:, ::-1]
    maxima &= smoothed >= low + min_height * (high - low)
    h, w = data.shape
    maxima[:size, :] = maxima[h - size :, :] = False
    maxima[:, :size] = maxima[:, w - size :] = False
    return ColumnMaxima(np.argwhere(maxima)[:, ::-1].astype(np.float64), neighbours.astype(np.float64))


def fit_columns(
    image: torch.Tensor,
    pixel_size: float,
    maxima: ColumnMaxima,
    radius: float = 0.8,
    reach: float = 2.0,
    smooth: float = 1.0,
) -> ColumnFits:
    """Fit a 2-D Gaussian of width ``σ`` to each column of ``maxima`` (:func:`column_maxima`), its neighbours' tails
    included. The raw pixels within ``radius`` Å of a column's maximum ``m₀`` are fitted by least squares
    (``scipy.optimize.least_squares``) with

        v(r) = b + A₀ g(r − m₀ − δ) + Σⱼ Aⱼ g(r − mⱼ),     g(r) = exp(−|r|² / 2σ²),

    one ``σ`` for the column and its neighbours ``mⱼ`` (the maxima within ``radius + reach`` Å, at their maxima):
    the same probe blurs them all, and their tails, which grow with the blur, are not taken for background. Fits whose
    centre leaves the disc are dropped. The centres' standard errors are ``√diag((JᵀJ)⁻¹ s²)`` with ``s²`` the
    residual variance (``smooth`` is the smoothing the maxima were found with: the starting tails are read there).
    """
    from scipy import ndimage
    from scipy.optimize import least_squares

    data = _image_array(image, "fit_columns")
    if not (math.isfinite(pixel_size) and pixel_size > 0) or not (radius > 0 and reach >= 0):
        raise ParameterError(
            f"pixel_size and radius must be > 0 and reach >= 0 (Å), got {pixel_size}, {radius} and {reach}"
        )
    r = radius / pixel_size  # in pixels
    size = int(math.ceil(r))
    smoothed = ndimage.gaussian_filter(data, smooth, mode="mirror") if smooth > 0 else data
    low = np.percentile(smoothed, 1)
    h, w = data.shape
    dy, dx = np.mgrid[-size : size + 1, -size : size + 1]
    disc = dx**2 + dy**2 <= r**2
    dx, dy = dx[disc], dy[disc]
    neighbours = maxima.neighbours
    fits = []
    for x0, y0 in maxima.columns.astype(int):
        if not (size <= x0 < w - size and size <= y0 < h - size):
            raise ParameterError(f"column maximum ({x0}, {y0}) lies within {size} px (radius) of the border")
        values = data[y0 + dy, x0 + dx]
        near = neighbours - (x0, y0)
        distance = np.hypot(near[:, 0], near[:, 1])
        near = near[(distance > 0.5) & (distance <= r + reach / pixel_size)]  # (M, 2) relative to the maximum
        ox = dx[:, None] - near[None, :, 0]
        oy = dy[:, None] - near[None, :, 1]
        r2 = ox**2 + oy**2  # (pixels, M)

        def residual(p, values=values, r2=r2):
            cx, cy, sigma, background, amplitude = p[:5]
            inv = -1.0 / (2 * sigma**2)
            model = background + amplitude * np.exp(((dx - cx) ** 2 + (dy - cy) ** 2) * inv)
            return model + np.exp(r2 * inv) @ p[5:] - values

        tails = np.clip(smoothed[(near[:, 1] + y0).astype(int), (near[:, 0] + x0).astype(int)] - low, 0, None)
        start = np.concatenate([[0.0, 0.0, r / 2, low, max(values.max() - low, 1e-12)], tails])
        lower = np.concatenate([[-r, -r, 0.05, -np.inf, 0.0], np.zeros(len(near))])
        upper = np.concatenate([[r, r, 4 * r, np.inf, np.inf], np.full(len(near), np.inf)])
        result = least_squares(residual, np.clip(start, lower, upper), bounds=(lower, upper))
        p = result.x
        if math.hypot(p[0], p[1]) < r:
            dof = max(len(values) - len(p), 1)
            variance = float(result.fun @ result.fun) / dof
            jac = result.jac[:, :2]  # the centre's columns; the other parameters' correlation is small at the centre
            try:
                cov = np.linalg.inv(jac.T @ jac) * variance
                error = np.sqrt(np.clip(np.diag(cov), 0, None))
            except np.linalg.LinAlgError:
                error = np.full(2, np.nan)
            fits.append((x0 + p[0], y0 + p[1], p[4], p[2] * pixel_size, p[3], *error))
    table = np.array(fits, dtype=np.float64).reshape(-1, 7)
    return ColumnFits(table[:, :2], table[:, 3], table[:, 2], table[:, 4], table[:, 5:7])


def column_widths(
    image: torch.Tensor,
    pixel_size: float,
    radius: float = 0.8,
    min_height: float = 0.5,
    reach: float = 2.0,
    smooth: float = 1.0,
) -> ColumnFits:
    """Fit a 2-D Gaussian of width ``σ`` to each atomic column of ``image`` ``(H, W)`` (pixel size in Å), its
    neighbours' tails included: :func:`column_maxima` (``min_height`` 0.5: the bright columns) then
    :func:`fit_columns`. ``σ`` is the probe's width and the column's own (thermal motion, channelling) in
    quadrature — the resolution of the image as recorded.
    """
    if not (math.isfinite(pixel_size) and pixel_size > 0) or not (radius > 0 and reach >= 0):
        raise ParameterError(
            f"pixel_size and radius must be > 0 and reach >= 0 (Å), got {pixel_size}, {radius} and {reach}"
        )
    maxima = column_maxima(image, pixel_size, radius=radius, min_height=min_height, smooth=smooth)
    return fit_columns(image, pixel_size, maxima, radius=radius, reach=reach, smooth=smooth)


def _image_array(image: torch.Tensor, owner: str) -> np.ndarray:
    data = torch.as_tensor(image).to(torch.float64).cpu().numpy()
    if data.ndim != 2:
        raise ParameterError(f"{owner} needs one image (H, W), got shape {data.shape}")
    return data


def noise_variance(image: torch.Tensor, cutoff: float, annuli: int = 16) -> float:
    """The variance of an image's noise (its units²), from the noise floor of its power spectrum beyond the signal.

    The periodogram ``P(k) = |F[(x - x̄) · w](k)|² / Σ w²`` (``w`` a 2-D Hann window) of noise with power spectrum
    ``S(k)`` has mean ``S(k)`` and, being exponentially distributed, median ``S(k) ln 2``. Beyond ``cutoff`` (cycles
    per pixel) the probe has taken the specimen's signal away (:func:`signal_cutoff`), so ``S`` is measured there as
    the median of ``P`` over each of ``annuli`` rings of ``|k|``, divided by ``ln 2`` (a stray peak does not move a
    median); below ``cutoff`` it is taken as flat at the first ring's level. The variance is the mean of ``S`` over
    all frequencies — also for noise that is not white (a detector's response, a smoothing before saving), whose
    power falls with ``|k|``.
    """
    x = torch.as_tensor(image).to(torch.float64)
    if x.dim() != 2 or min(x.shape) < 8:
        raise ParameterError(f"noise_variance needs one image (H, W) of at least 8x8, got {tuple(x.shape)}")
    h, w = x.shape
    window = torch.hann_window(h, periodic=False, dtype=torch.float64).view(-1, 1) * torch.hann_window(
        w, periodic=False, dtype=torch.float64
    ).view(1, -1)
    power = (torch.fft.fft2((x - x.mean()) * window).abs() ** 2 / (window**2).sum()).reshape(-1)
    k = torch.hypot(
        torch.fft.fftfreq(w, dtype=torch.float64).view(1, -1), torch.fft.fftfreq(h, dtype=torch.float64).view(-1, 1)
    ).reshape(-1)
    corner = float(k.max())
    if not 0 < cutoff < corner:
        raise ParameterError(f"cutoff must lie in (0, {corner:.3g}) cycles per pixel, got {cutoff}")
    edges = torch.linspace(cutoff, corner * (1 + 1e-9), annuli + 1, dtype=torch.float64)
    below = int((k < cutoff).sum())
    total, level = 0.0, None
    for low, high in zip(edges[:-1], edges[1:]):
        ring = power[(k >= low) & (k < high)]
        if ring.numel():
            spectrum = float(ring.median()) / math.log(2)
            level = spectrum if level is None else level
            total += spectrum * ring.numel()
    return (total + level * below) / k.numel()


def signal_cutoff(sigma: float, pixel_size: float, floor: float = 1e-4) -> float:
    """The spatial frequency (cycles per pixel) beyond which a Gaussian blur of ``sigma`` Å has left less than
    ``floor`` of the specimen's Fourier amplitude: ``exp(-2π² σ² k²) = floor``, ``k = √(ln(1/floor) / 2π²) / σ``
    with ``σ`` in pixels."""
    if not (sigma > 0 and pixel_size > 0 and 0 < floor < 1):
        raise ParameterError(f"need sigma > 0, pixel_size > 0 and floor in (0, 1), got {sigma}, {pixel_size}, {floor}")
    return math.sqrt(math.log(1 / floor) / (2 * math.pi**2)) * pixel_size / sigma
