"""Re-imaging a recorded image with a broader probe and another raster scan (the recorded pixel grid is kept).

- A broader probe is an extra Gaussian blur: a probe of Gaussian width ``σ_req`` seen through an image already
  blurred to ``σ_rec`` adds ``σ_add = √(σ_req² − σ_rec²)`` (Gaussians convolve by adding variances). The blur is one
  multiplication by ``exp(-2π² σ² |k|²)`` in Fourier space on the image extended by reflection about its edge pixels
  (``x₀ … x_{W-1}, x_{W-2} … x₁``, period ``2W − 2``; scipy's "mirror"): the border sees the mirrored image, not the
  opposite side.
- Another scan moves the positions the pixels are recorded at (:mod:`causalphys.microscopy.scan`): pixel
  ``q = (j, i)`` of the new image sees the specimen at ``r = B (q − c) + d_i`` (Å from the field's centre ``c``), which
  the recording shows at pixel ``c + r / Δx`` (the recording is taken as a faithful map of the specimen at its
  calibrated pixel size ``Δx``). The blurred recording is read there by bilinear interpolation; a position outside
  the field is reflected about the edge pixels, as in the blur (``torch.nn.functional.grid_sample`` with
  ``padding_mode="reflection"``, ``align_corners=True``).
- Both average recorded pixels, so they lower the recorded shot noise: :func:`kept_noise` is the fraction of a
  pixel's recorded noise variance that survives them (1 when nothing moved or blurred), which the detector stage
  tops up to the requested dose's Poisson noise (:mod:`causalphys.microscopy.recorded`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from causalphys.microscopy.scan import line_displacements, raster


def _transfer(size: int, sigma: torch.Tensor) -> torch.Tensor:
    """``exp(-2π² σ² k²)`` on the frequencies of the mirrored extension of ``size`` pixels, ``(n, size_ext)``;
    ``sigma`` ``(n,)`` in pixels."""
    period = max(2 * size - 2, 1)
    k = torch.fft.rfftfreq(period, device=sigma.device, dtype=sigma.dtype)
    return torch.exp(-2 * math.pi**2 * sigma.view(-1, 1) ** 2 * k**2)


def _mirror(images: torch.Tensor, dim: int) -> torch.Tensor:
    """``x₀ … x_{N-1}, x_{N-2} … x₁`` along ``dim``: one period of the reflection about the edge pixels."""
    size = images.shape[dim]
    if size < 3:
        return images
    inner = images.narrow(dim, 1, size - 2).flip(dim)
    return torch.cat([images, inner], dim)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``images`` ``(n, H, W)`` blurred by a Gaussian of ``sigma`` ``(n,)`` pixels (0: unchanged), reflecting at the
    borders (module docstring). Separable: one real FFT along each axis of the mirrored image."""
    n, h, w = images.shape
    out = _mirror(images, 2)
    out = torch.fft.irfft(torch.fft.rfft(out, dim=2) * _transfer(w, sigma).unsqueeze(1), n=out.shape[2], dim=2)
    out = _mirror(out[..., :w], 1)
    out = torch.fft.irfft(torch.fft.rfft(out, dim=1) * _transfer(h, sigma).unsqueeze(-1), n=out.shape[1], dim=1)
    return out[:, :h, :w]


def kernel_overlap(size: int, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(C₀, C₁)``, each ``(n,)``: the autocorrelation at lags 0 and 1 pixel of the 1-D blur kernel of
    :func:`gaussian_blur` along an axis of ``size`` pixels, ``C_l = (1/P) Σ_k |ĝ(k)|² cos(2π k l)`` over the
    ``P = 2·size − 2`` frequencies of the extension. White noise of variance ``v`` has variance ``C₀ v`` after the
    blur and covariance ``C₁ v`` between neighbours (``C₀ = 1``, ``C₁ = 0`` without blur; ``C₀ ≈ 1 / (2√π σ)`` for
    wide ones)."""
    period = max(2 * size - 2, 1)
    k = torch.fft.fftfreq(period, device=sigma.device, dtype=sigma.dtype)
    g2 = torch.exp(-4 * math.pi**2 * sigma.view(-1, 1) ** 2 * k**2)
    return g2.mean(1), (g2 * torch.cos(2 * math.pi * k)).mean(1)


def kept_noise(shape: tuple[int, int], sigma: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
    """The fraction of each pixel's recorded (white) noise variance left after the blur of ``sigma`` ``(n,)`` pixels
    and the bilinear read at ``positions`` ``(n, H, W, 2)`` (``None``: at the pixels themselves), ``(n, H, W)``.

    Along one axis, a read at fractional offset ``t`` weighs two neighbours by ``1 − t`` and ``t``:
    ``w = ((1 − t)² + t²) C₀ + 2 t (1 − t) C₁`` (:func:`kernel_overlap`); the blur and the weights are separable, so
    the 2-D fraction is the product of the two axes'. Reflection at the borders is ignored (it changes ``C₁`` at the
    edge pixels only)."""
    h, w = shape
    cx0, cx1 = (c.view(-1, 1, 1) for c in kernel_overlap(w, sigma))
    cy0, cy1 = (c.view(-1, 1, 1) for c in kernel_overlap(h, sigma))
    if positions is None:
        return (cx0 * cy0).expand(-1, h, w)
    tx = positions[..., 0] - positions[..., 0].floor()
    ty = positions[..., 1] - positions[..., 1].floor()
    wx = ((1 - tx) ** 2 + tx**2) * cx0 + 2 * tx * (1 - tx) * cx1
    wy = ((1 - ty) ** 2 + ty**2) * cy0 + 2 * ty * (1 - ty) * cy1
    return wx * wy


def scan_positions(
    shape: tuple[int, int],
    pixel_size: float,
    p: dict[str, torch.Tensor],
    jitter_z: torch.Tensor,
    mains_phase: torch.Tensor,
    mains_direction: torch.Tensor,
) -> torch.Tensor:
    """Where pixel ``(i, j)`` of the new scan reads the recording: ``(n, H, W, 2)`` positions ``(x, y)`` in recorded
    pixels, ``c + (B (q − c) + d_i) / Δx`` (module docstring).

    ``p`` holds ``(n,)`` tensors ``scale_error_x``, ``scale_error_y``, ``scan_shear``, ``scan_rotation`` (rad),
    ``drift_speed`` (Å/s), ``drift_angle`` (rad), ``dwell_time``, ``flyback_time`` (s), ``line_jitter`` (Å rms),
    ``mains_amplitude`` (Å), ``mains_frequency`` (Hz); ``jitter_z`` ``(n, H)`` standard normals; ``mains_phase`` and
    ``mains_direction`` ``(n,)`` in radians. ``B`` and ``d_i`` come from :func:`scan_matrix` and
    :func:`line_displacements` with the nominal pixel size ``Δx`` (Å).
    """
    h, w = shape
    dtype, device = p["dwell_time"].dtype, p["dwell_time"].device
    b, t_line = raster(p, torch.full_like(p["dwell_time"], pixel_size), w)
    shift = line_displacements(
        h,
        t_line,
        p["line_jitter"],
        jitter_z,
        p["mains_amplitude"],
        p["mains_frequency"],
        mains_phase,
        mains_direction,
    )  # (n, H, 2) Å
    centre = torch.tensor([(w - 1) / 2, (h - 1) / 2], device=device, dtype=dtype)
    y, x = torch.meshgrid(
        torch.arange(h, device=device, dtype=dtype), torch.arange(w, device=device, dtype=dtype), indexing="ij"
    )
    q = torch.stack([x, y], -1) - centre  # (H, W, 2) pixels from the centre
    r = torch.einsum("nab,hwb->nhwa", b, q) + shift.unsqueeze(2)  # Å
    return centre + r / pixel_size


def resample(images: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """``images`` ``(n, H, W)`` read at ``positions`` ``(n, H', W', 2)`` (``(x, y)`` in pixels) by bilinear
    interpolation, reflecting about the edge pixels outside the field; ``(n, H', W')``."""
    n, h, w = images.shape
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=images.device, dtype=images.dtype)
    grid = positions * scale - 1.0
    out = F.grid_sample(images.unsqueeze(1), grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    return out.squeeze(1)
