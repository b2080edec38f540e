"""Fourier-peak measurements: the refinement stays on the peak it found."""

import math

import torch

from causalphys.microscopy.analysis import fft_peak


def test_fft_peak_finds_a_fringe_to_a_fraction_of_a_sample():
    x = torch.arange(64, dtype=torch.float64)
    image = torch.cos(2 * math.pi * 0.1037 * x).view(1, -1).expand(64, 64)
    kx, ky = fft_peak(image, (0.1, 0.0), radius=0.02)
    assert abs(kx - 0.1037) < 0.1 / (8 * 64) and abs(ky) < 1e-9


def test_fft_peak_on_the_rim_of_the_disc_stays_within_half_a_sample_of_it():
    # the only fringe lies outside the search disc: the maximum in the disc sits on its rim, on the fringe's slope,
    # where a parabola through three rising samples has its vertex far away (or none)
    x = torch.arange(64, dtype=torch.float64)
    y = x.view(-1, 1)
    image = torch.cos(2 * math.pi * (0.1 * x.view(1, -1) + 0.03 * y)) + 0.2 * torch.cos(2 * math.pi * 0.3 * y)
    for guess in ((0.13, 0.0), (0.07, 0.03), (0.1, 0.06)):
        radius = 0.02
        kx, ky = fft_peak(image, guess, radius=radius)
        assert math.hypot(kx - guess[0], ky - guess[1]) <= radius + 0.5 * math.sqrt(2) / (8 * 64) + 1e-12
