"""Measurements on images: Fourier peaks (the refinement stays on the peak it found), lattice vectors in Å, column
widths from Gaussian fits, the noise floor."""

import math

import numpy as np
import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.microscopy.analysis import column_widths, fft_peak, lattice_vectors, noise_variance, signal_cutoff


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


def gaussian_columns(shape, positions, sigma, amplitude=1.0, background=0.1):
    """An image of Gaussian columns of width ``sigma`` (px) at ``positions`` ``[(x, y), ...]`` (px)."""
    y, x = torch.meshgrid(
        torch.arange(shape[0], dtype=torch.float64), torch.arange(shape[1], dtype=torch.float64), indexing="ij"
    )
    image = torch.full(shape, background, dtype=torch.float64)
    for px, py in positions:
        image += amplitude * torch.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * sigma**2))
    return image


def test_lattice_vectors_read_a_rectangular_lattice_in_angstrom():
    # a 2.5 Å x 3.3 Å rectangular lattice of columns at 0.1 Å/px, turned by 10°: two reflections at 90°
    turn = math.radians(10)
    a = torch.tensor([math.cos(turn), math.sin(turn)]) * 25.0
    b = torch.tensor([-math.sin(turn), math.cos(turn)]) * 33.0
    positions = [
        tuple((i * a + j * b + torch.tensor([5.0, 5.0])).tolist()) for i in range(-12, 14) for j in range(-12, 14)
    ]
    positions = [p for p in positions if -10 < p[0] < 250 and -10 < p[1] < 250]
    image = gaussian_columns((240, 240), positions, sigma=3.0)
    lattice = lattice_vectors(image, pixel_size=0.1)
    assert sorted(lattice.spacings) == pytest.approx([2.5, 3.3], rel=2e-3)
    assert lattice.angle == pytest.approx(90.0, abs=0.3) and lattice.power[0] == 1.0
    with pytest.raises(ParameterError, match="pixel_size"):
        lattice_vectors(image, pixel_size=0.0)


def test_column_widths_fit_gaussians_with_their_neighbours_tails():
    # columns 2 Å apart (20 px at 0.1 Å/px) of width 0.6 Å: their tails overlap within each other's fit disc
    positions = [(10.0 + 20 * i + 0.3, 12.0 + 20 * j - 0.2) for i in range(8) for j in range(8)]
    image = gaussian_columns((170, 170), positions, sigma=6.0, amplitude=2.0)
    fits = column_widths(image, pixel_size=0.1, radius=0.8)
    assert len(fits.sigma) >= 25 and fits.position.shape == (len(fits.sigma), 2)
    # the neighbours sit at their pixel maxima (up to 0.5 px off) and the diagonal ones (2.8 Å) lie beyond reach:
    # widths within 1 %, heights within 2 %
    assert np.allclose(fits.sigma, 0.6, rtol=0.01) and np.allclose(fits.amplitude, 2.0, rtol=0.02)
    assert np.allclose(fits.position % 20, [10.3, 11.8], atol=0.02)  # px
    no_neighbours = column_widths(image, pixel_size=0.1, radius=0.8, reach=0.0)
    assert np.median(no_neighbours.sigma) < 0.59  # their tails, taken for background, narrow the fit


def test_noise_variance_of_a_lattice_with_white_noise():
    positions = [(7.0 + 13 * i, 5.0 + 13 * j) for i in range(10) for j in range(10)]
    image = gaussian_columns((128, 128), positions, sigma=3.0, amplitude=50.0)
    noise = torch.randn((128, 128), generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2.0
    cutoff = signal_cutoff(0.3, 0.1)  # 3 px: the columns' Fourier amplitude is below 1e-4 beyond it
    assert cutoff == pytest.approx(math.sqrt(math.log(1e4) / (2 * math.pi**2)) / 3)
    # medians of 16 rings of a windowed periodogram (neighbouring bins correlated): a few percent of scatter
    assert noise_variance(image + noise, cutoff) == pytest.approx(float(noise.var()), rel=0.08)
    # a lattice puts its power into sparse reflections, which ring medians pass over even inside the signal band;
    # a smooth signal filling whole rings there (a broad blob, 15 px wide) is counted as noise
    assert noise_variance(image + noise, 0.02) == pytest.approx(float(noise.var()), rel=0.1)
    blob = 2000 * gaussian_columns((128, 128), [(64.0, 64.0)], sigma=15.0, background=0.0)
    assert noise_variance(image + noise + blob, 0.02) > 2 * noise_variance(image + noise + blob, cutoff)
