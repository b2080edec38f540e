"""Columns as points: the lattice fitted to them and the scoring of found against reference columns."""

import math

import numpy as np
import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.microscopy.analysis import column_maxima, fit_columns, lattice_vectors
from causalphys.microscopy.columns import fit_lattice, inside, match_columns, pooled, real_space_basis
from tests.microscopy.test_analysis import gaussian_columns


def lattice_points(basis, motif, shape, origin=(3.0, 4.0)):
    b = np.asarray(basis, dtype=float)
    points, sites = [], []
    for i in range(-40, 41):
        for j in range(-40, 41):
            for k, s in enumerate(motif):
                p = np.asarray(origin) + b @ (np.array([i, j]) + np.asarray(s))
                if 0 <= p[0] < shape[1] and 0 <= p[1] < shape[0]:
                    points.append(p)
                    sites.append(k)
    return np.array(points), np.array(sites)


def test_fit_lattice_recovers_basis_motif_and_residuals_from_a_rough_guess():
    basis = np.array([[20.0, 1.5], [-0.8, 28.0]])  # columns b1, b2 (pixels): slightly sheared and turned
    motif = ((0.0, 0.0), (0.5, 0.0))
    points, sites = lattice_points(basis, motif, (300, 300))
    noise = np.random.default_rng(0).normal(0, 0.2, points.shape)
    fit = fit_lattice(points + noise, basis * np.array([[1.04], [0.97]]), motif)  # a few % off
    assert fit.basis == pytest.approx(basis, abs=0.02)
    assert fit.rms == pytest.approx(0.2 * math.sqrt(2), rel=0.1)  # the noise, not a misfit
    assert np.array_equal(fit.site, sites) or np.array_equal(fit.site, 1 - sites)
    assert fit.lengths(0.1) == pytest.approx((0.1 * np.hypot(20.0, -0.8), 0.1 * np.hypot(1.5, 28.0)), rel=1e-3)
    with pytest.raises(ParameterError, match="at least 3"):
        fit_lattice(points[:2], basis)
    with pytest.raises(ParameterError, match="invertible"):
        fit_lattice(points, [[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(ParameterError, match=r"\(m, 2\)"):
        fit_lattice(points[:, :1], basis)


def test_the_fft_basis_and_gaussian_fits_find_a_rendered_lattice_to_a_hundredth_of_a_pixel():
    basis = np.array([[21.0, 0.0], [0.0, 29.5]])
    points, _ = lattice_points(basis, ((0.0, 0.0),), (200, 210), origin=(7.3, 5.6))
    image = gaussian_columns((200, 210), [tuple(p) for p in points], sigma=4.0)
    fits = fit_columns(image, 0.1, column_maxima(image, 0.1, radius=0.8, min_height=0.3), radius=0.8)
    lattice = fit_lattice(fits.position, real_space_basis(lattice_vectors(image, 0.1)))
    assert np.abs(lattice.basis) == pytest.approx(np.abs(basis)[:, ::-1], abs=0.01) or np.abs(
        lattice.basis
    ) == pytest.approx(np.abs(basis), abs=0.01)
    assert lattice.rms < 0.01 and np.all(fits.position_error < 0.01)
    match = match_columns(fits.position, points, radius=2.0, shape=(200, 210), margin=10)
    assert match.precision == 1.0 and match.recall == 1.0 and match.median_error < 0.01


def test_match_columns_counts_misses_inventions_and_the_edge_of_the_field():
    reference = np.array([[10.0, 10.0], [20.0, 10.0], [30.0, 10.0], [40.0, 10.0], [1.0, 10.0]])
    found = np.array([[10.5, 10.0], [19.0, 10.0], [35.0, 30.0], [0.5, 10.0], [25.0, 10.0]])
    # one within 0.5, one at 1.0, one invention in the field, one on the edge of the field (matches the edge
    # reference, which is outside the scored field: neither counted), one 5 px from two references (no match at 3)
    match = match_columns(found, reference, radius=3.0, shape=(50, 50), margin=3.0)
    assert match.n_reference == 4 and match.pairs[:, 1].tolist() == [0, 1]
    assert match.recall == pytest.approx(2 / 4) and match.precision == pytest.approx(2 / 4)
    assert sorted(match.errors.tolist()) == [0.5, 1.0] and match.median_error == 0.75
    one_to_one = match_columns(np.array([[10.0, 10.0], [10.2, 10.0]]), reference[:1], radius=1.0)
    assert len(one_to_one.pairs) == 1 and one_to_one.precision == 0.5 and one_to_one.pairs[0].tolist() == [0, 0]
    assert inside(reference, (50, 50), 3.0).tolist() == [True, True, True, True, False]
    with pytest.raises(ParameterError, match="radius"):
        match_columns(found, reference, radius=0.0)
    empty = match_columns(np.zeros((0, 2)), reference, radius=1.0)
    assert empty.recall == 0.0 and math.isnan(empty.precision) and math.isnan(empty.median_error)


def test_column_fits_report_standard_errors_that_grow_with_the_noise():
    basis = np.array([[20.0, 0.0], [0.0, 20.0]])
    points, _ = lattice_points(basis, ((0.0, 0.0),), (120, 120), origin=(10.0, 10.0))
    clean = gaussian_columns((120, 120), [tuple(p) for p in points], sigma=3.0)
    errors = []
    for level in (0.02, 0.08):
        noisy = clean + level * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1), dtype=clean.dtype)
        fits = fit_columns(noisy, 0.1, column_maxima(clean, 0.1, radius=0.8, min_height=0.3), radius=0.8)
        actual = match_columns(fits.position, points, radius=2.0).errors
        errors.append((float(np.median(fits.position_error)), float(np.sqrt(np.mean(actual**2) / 2))))
    (low_claimed, low_actual), (high_claimed, high_actual) = errors
    assert high_claimed == pytest.approx(4 * low_claimed, rel=0.2)  # errors scale with the noise
    assert high_claimed == pytest.approx(high_actual, rel=0.35)  # and say what the fits actually miss by


def test_pooled_matches_count_each_kind_against_its_own_columns():
    sro = np.array([[10.0, 10.0], [20.0, 10.0], [30.0, 10.0]])
    ti = np.array([[15.0, 10.0], [25.0, 10.0]])
    # SrO: two found right, one missed; Ti: both found, plus an invention; an SrO column found as Ti does not count
    a = match_columns(np.array([[10.2, 10.0], [20.0, 10.3]]), sro, radius=1.0)
    b = match_columns(np.array([[15.0, 10.0], [25.4, 10.0], [40.0, 10.0], [30.0, 10.0]]), ti, radius=1.0)
    assert (a.false_positives, b.false_positives) == (0, 2)
    both = pooled([a, b])
    assert (both.matched, both.false_positives, both.n_reference) == (4, 2, 5)
    assert both.precision == pytest.approx(4 / 6) and both.recall == pytest.approx(4 / 5)
    assert both.f1 == pytest.approx(2 * (4 / 6) * (4 / 5) / (4 / 6 + 4 / 5))
    assert both.median_error == pytest.approx(np.median([0.2, 0.3, 0.0, 0.4]))
    nothing = pooled([match_columns(np.array([[50.0, 50.0]]), sro, radius=1.0)])
    assert nothing.f1 == 0.0 and math.isnan(nothing.median_error)
    with pytest.raises(ParameterError, match="at least one"):
        pooled([])
