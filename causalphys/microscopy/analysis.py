"""Measurements on images, as a microscopist makes them: lattice reflections from the Fourier transform."""

from __future__ import annotations

import torch


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
