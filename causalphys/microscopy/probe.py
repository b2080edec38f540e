"""The electron probe: a Gaussian core plus a Lorentzian tail.

Intensity profile (unit integral, in Å⁻²), with core width ``σ``, tail fraction ``η`` and tail width ``γ``::

    P(s) = (1 - η) · exp(-|s|² / 2σ²) / (2πσ²)  +  η · γ / (2π (|s|² + γ²)^{3/2})

The tail is the 2D Cauchy profile, whose Fourier transform is closed-form, as is the Gaussian's::

    P̂(k) = (1 - η) · exp(-2π² σ² |k|²)  +  η · exp(-2π γ |k|)        (k in cycles per Å)

so the probe is applied by one multiplication in Fourier space, for every unit's own σ, η and γ. The tail
fraction 0.3-0.5 follows the fast STEM simulators cited in ``phases``; source sizes of 0.3-2 Å span
aberration-corrected to uncorrected instruments (pyTEMlib ``probe_tools.get_target_aberrations``: 0.051 nm source
size on a corrected NionUS200 at 200 kV, 0.2 nm on an uncorrected ZeissMC200).
"""

from __future__ import annotations

import math

import torch


def probe_transfer(k2: torch.Tensor, sigma: torch.Tensor, tail_fraction: torch.Tensor, tail_width: torch.Tensor):
    """``P̂`` at squared spatial frequencies ``k2`` (cycles²/Å², shape ``(n, ...)``); parameters ``(n,)`` in Å."""
    shape = (-1,) + (1,) * (k2.dim() - 1)
    sigma, eta, gamma = sigma.view(shape), tail_fraction.view(shape), tail_width.view(shape)
    core = torch.exp(k2 * (-2 * math.pi**2 * sigma**2))
    tail = torch.exp(torch.sqrt(k2) * (-2 * math.pi * gamma))
    return core.mul_(1 - eta).addcmul_(tail, eta.expand_as(tail))


def probe_profile(r2: torch.Tensor, sigma: float, tail_fraction: float, tail_width: float) -> torch.Tensor:
    """``P`` at squared radii ``r2`` (Å²), for pictures and tests."""
    core = torch.exp(-r2 / (2 * sigma**2)) / (2 * math.pi * sigma**2)
    tail = tail_width / (2 * math.pi * (r2 + tail_width**2) ** 1.5)
    return (1 - tail_fraction) * core + tail_fraction * tail
