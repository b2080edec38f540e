"""The raster scan: where the probe really is when the detector records pixel ``(i, j)``.

Pixel ``(i, j)`` (row ``i`` on the slow axis, column ``j`` on the fast axis) is recorded at time
``t_ij = i · T_line + j · τ`` with dwell time ``τ`` and line time ``T_line = W · τ + t_flyback``. The probe then sits at

    r(i, j) = B · (j, i)ᵀ + d_i                                     (Å; up to a constant shift)
    B = R(φ) · [[Δx/(1+s_x), Δx/(1+s_y) · tan γ], [0, Δx/(1+s_y)]]  +  v ⊗ (τ, T_line)

- ``Δx`` the nominal pixel size, ``s_x``, ``s_y`` the scan-calibration scale errors, defined so that a lattice of
  spacing ``a`` along an axis reads ``a (1 + s)`` in the calibrated image (SrTiO3 calibrations: 0.4-1.2 % fast,
  2.7-3.6 % slow, shear 0.6-1.2°; a 3.3 % slow-axis error reads an unstrained 3.905 Å lattice as 4.035 Å);
- ``γ`` the scan shear, ``φ`` the scan rotation;
- ``v`` the linear drift velocity (Å/s): affine in ``(i, j)``, so it folds into ``B`` (a drift ``v_x`` along the
  fast axis shears the image by ``v_x · T_line`` per line);
- ``d_i`` the per-line displacement: jitter ``σ_j z_i`` along the fast axis (genSTEM's per-line jitter) plus mains
  pick-up ``A sin(2π f t_i + φ_m)`` along a direction ``ψ`` (50 or 60 Hz; genSTEM ``add_ac_noise``). A line takes
  0.1-2 ms, far shorter than a mains period, so the pick-up is constant along a line.
"""

from __future__ import annotations

import math

import torch


def line_time(width: int, dwell: torch.Tensor, flyback: torch.Tensor) -> torch.Tensor:
    """``T_line = W · τ + t_flyback`` (s), shape ``(n,)``."""
    return width * dwell + flyback


def scan_matrix(
    pixel_size: torch.Tensor,
    scale_x: torch.Tensor,
    scale_y: torch.Tensor,
    shear: torch.Tensor,
    rotation: torch.Tensor,
    drift_velocity: torch.Tensor,
    dwell: torch.Tensor,
    t_line: torch.Tensor,
) -> torch.Tensor:
    """``B`` of the module docstring, ``(n, 2, 2)``: Å per pixel step, columns for the fast and the slow axis.

    ``drift_velocity`` is ``(n, 2)`` in Å/s; angles in radians; everything else ``(n,)``.
    """
    hx = pixel_size / (1 + scale_x)
    hy = pixel_size / (1 + scale_y)
    zero = torch.zeros_like(hx)
    m = torch.stack([torch.stack([hx, hy * torch.tan(shear)], -1), torch.stack([zero, hy], -1)], -2)
    c, s = torch.cos(rotation), torch.sin(rotation)
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    steps = torch.stack([dwell, t_line], -1)  # time per fast step, per slow step
    return rot @ m + drift_velocity.unsqueeze(-1) * steps.unsqueeze(-2)


def line_displacements(
    rows: int,
    t_line: torch.Tensor,
    jitter: torch.Tensor,
    jitter_z: torch.Tensor,
    mains_amplitude: torch.Tensor,
    mains_frequency: torch.Tensor,
    mains_phase: torch.Tensor,
    mains_direction: torch.Tensor,
) -> torch.Tensor:
    """``d_i`` of the module docstring, ``(n, rows, 2)`` in Å (x along the fast axis).

    ``jitter_z`` ``(n, rows)`` are standard normals; ``mains_phase`` and ``mains_direction`` ``(n,)`` in radians.
    """
    t = torch.arange(rows, device=t_line.device, dtype=t_line.dtype) * t_line.view(-1, 1)
    wave = mains_amplitude.view(-1, 1) * torch.sin(
        2 * math.pi * mains_frequency.view(-1, 1) * t + mains_phase.view(-1, 1)
    )
    dx = jitter.view(-1, 1) * jitter_z + wave * torch.cos(mains_direction).view(-1, 1)
    dy = wave * torch.sin(mains_direction).view(-1, 1)
    return torch.stack([dx, dy], -1)


def raster(p, pixel_size: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, T_line)``: the scan matrix (:func:`scan_matrix`, ``(n, 2, 2)``) and line time (:func:`line_time`,
    ``(n,)``) of lines of ``width`` pixels of ``pixel_size`` Å, for the scan parameters ``p`` — ``(n,)`` tensors
    ``scale_error_x``, ``scale_error_y``, ``scan_shear``, ``scan_rotation``, ``drift_speed`` (Å/s), ``drift_angle``
    (rad), ``dwell_time`` and ``flyback_time`` (s); the drift velocity is ``drift_speed · (cos, sin)(drift_angle)``."""
    t_line = line_time(width, p["dwell_time"], p["flyback_time"])
    angle = p["drift_angle"]
    drift = p["drift_speed"].view(-1, 1) * torch.stack([torch.cos(angle), torch.sin(angle)], -1)
    b = scan_matrix(
        pixel_size,
        p["scale_error_x"],
        p["scale_error_y"],
        p["scan_shear"],
        p["scan_rotation"],
        drift,
        p["dwell_time"],
        t_line,
    )
    return b, t_line
