import math

import pytest
import torch

import causalphys as cp
from causalphys.microscopy import imaging
from causalphys.microscopy.analysis import fft_peak
from causalphys.microscopy.imaging import ImageFormation

from .physics import BASE, render


def spacing_along_axes(image, pixel_size, a_guess):
    """Calibrated lattice spacings (Å) along the fast and the slow axis from the (1,0) and (0,1) reflections."""
    k = pixel_size / a_guess  # cycles per pixel of the guessed spacing
    kx, _ = fft_peak(image, (k, 0.0), radius=0.2 * k)
    _, ky = fft_peak(image, (0.0, k), radius=0.2 * k)
    return pixel_size / kx, pixel_size / ky


def test_unstrained_lattice_reads_its_lattice_constant():
    img, *_ = render()
    ax, ay = spacing_along_axes(img[0], 0.2, 3.905)
    assert ax == pytest.approx(3.905, rel=0.002) and ay == pytest.approx(3.905, rel=0.002)


@pytest.mark.parametrize(
    "strain_xx, strain_yy, scale_x, scale_y",
    [(0.01, -0.02, 0.0, 0.0), (0.0, 0.0, 0.008, 0.033), (0.015, 0.005, -0.01, 0.03)],
)
def test_apparent_lattice_is_a_times_strain_times_scale_error(strain_xx, strain_yy, scale_x, scale_y):
    img, *_ = render(strain_xx=strain_xx, strain_yy=strain_yy, scale_error_x=scale_x, scale_error_y=scale_y)
    ax, ay = spacing_along_axes(img[0], 0.2, 3.905)
    assert ax == pytest.approx(3.905 * (1 + strain_xx) * (1 + scale_x), rel=0.01)
    assert ay == pytest.approx(3.905 * (1 + strain_yy) * (1 + scale_y), rel=0.01)


def test_a_three_percent_scale_error_fakes_three_percent_strain():
    # the SrTiO3 calibration example: an unstrained 3.905 Å lattice, a 3.3 % slow-axis error, reads 4.035 Å
    img, *_ = render(scale_error_y=0.033)
    ax, ay = spacing_along_axes(img[0], 0.2, 3.905)
    assert ay == pytest.approx(4.034, abs=0.02)
    assert (ay / ax - 1) == pytest.approx(0.033, abs=0.004)  # the apparent strain


def test_drift_shears_the_image_by_velocity_times_line_time():
    # a drift v along the fast axis moves line i by i·v·T_line: the (1,0) reflection k = Bᵀ(1/a, 0) tilts,
    # k_y / k_x = v·T_line / (Δx + v·τ), the shear in pixels per line
    v, dwell, flyback, lines = 8.0, 20e-6, 50e-6, 256 + 16  # Å/s, s, s, padded line length
    img, *_ = render(drift_speed=v, drift_angle=0.0, dwell_time=dwell, flyback_time=flyback)
    shear = v * (lines * dwell + flyback) / (0.2 + v * dwell)
    k = 0.2 / 3.905
    kx, ky = fft_peak(img[0], (k, k * shear), radius=0.3 * k)
    assert ky / kx == pytest.approx(shear, rel=0.01)
    assert shear > 0.2  # a visible effect: 12° of shear


def test_probe_width_blurs_and_conserves_signal():
    sharp, *_ = render(probe_sigma=0.3, shape=(128, 128))
    broad, *_ = render(probe_sigma=1.2, shape=(128, 128))
    assert sharp.max() > 3 * broad.max()
    assert sharp.mean().item() == pytest.approx(broad.mean().item(), rel=0.02)  # electrons are only redistributed


def test_column_contrast_follows_z_to_the_n():
    # perovskite along [001]: Sr (Z=38) column vs Ti-O (22 + 8) column; sharp probe so peaks do not overlap
    n = 1.6
    img, *_ = render(probe_sigma=0.25, probe_tail_fraction=0.0, z_exponent=n, shape=(128, 128), pixel_size=0.1)
    peaks = torch.nn.functional.max_pool2d(img[0][None, None], 9, stride=1, padding=4)[0, 0]
    local = (img[0] == peaks) & (img[0] > 0.2 * img[0].max())
    values = img[0][local].sort().values
    low, high = values[: len(values) // 3].mean(), values[-len(values) // 3 :].mean()
    expected = (22**n + 8**n) / 38**n
    assert (low / high).item() == pytest.approx(expected, rel=0.05)


def test_vacancies_remove_columns():
    full, *_ = render(shape=(128, 128))
    holey, *_ = render(shape=(128, 128), vacancy_fraction=0.3)
    assert holey.sum().item() == pytest.approx(0.7 * full.sum().item(), rel=0.1)


def test_hexagonal_phase_has_sixfold_reflections():
    img, *_ = render(phase=1.0, lattice_constant=3.16, shape=(128, 128))
    k = 0.2 / (3.16 * math.sqrt(3) / 2)  # first-order spacing of a triangular lattice: a·√3/2
    power = []
    for angle in range(0, 360, 30):  # reflections at 30°, 90°, ... (vertical/horizontal rows) and none at 0°
        t = math.radians(angle)
        kx, ky = fft_peak(img[0], (k * math.cos(t), k * math.sin(t)), radius=0.1 * k)
        power.append(math.hypot(kx - k * math.cos(t), ky - k * math.sin(t)) < 0.05 * k)
    assert power == [False, True] * 6


def test_jitter_and_mains_move_whole_lines():
    still, *_ = render(shape=(64, 64), pixel_size=0.3)
    shaken, *_ = render(shape=(64, 64), pixel_size=0.3, line_jitter=0.3)
    row_shift = (shaken[0] - still[0]).abs().sum(1)
    assert (row_shift > 0).float().mean() > 0.9  # nearly every line moved
    wavy, *_ = render(shape=(64, 64), pixel_size=0.3, mains_amplitude=0.3, dwell_time=10e-6)
    assert not torch.allclose(wavy, still)


def test_same_noise_same_image_and_seeds_matter():
    a, *_ = render(n=2, shape=(64, 64), seed=3, vacancy_fraction=0.1, line_jitter=0.1)
    b, *_ = render(n=2, shape=(64, 64), seed=3, vacancy_fraction=0.1, line_jitter=0.1)
    c, *_ = render(n=2, shape=(64, 64), seed=4, vacancy_fraction=0.1, line_jitter=0.1)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"probe_sigma": 0.0}, "probe_sigma .* must be > 0"),
        ({"probe_sigma": -1.0}, "probe_sigma"),
        ({"pixel_size": 0.0}, "pixel_size"),
        ({"vacancy_fraction": 1.5}, r"vacancy_fraction .* must lie in \[0, 1\]"),
        ({"phase": 2.0}, "phase .* index"),
        ({"lattice_constant": 30.0}, "too small for the lattice"),
    ],
)
def test_impossible_parameters_raise(override, message):
    with pytest.raises(cp.ParameterError, match=message):
        render(shape=(64, 64), **override)


def test_bad_roles_and_shapes():
    with pytest.raises(cp.ParameterError, match="unknown image-formation role"):
        ImageFormation(parents={"dose": "d"})
    with pytest.raises(cp.ParameterError, match="at least 8x8"):
        ImageFormation(shape=(4, 4))
    with pytest.raises(cp.ParameterError, match="max_cells"):
        render_small = ImageFormation(shape=(64, 64), max_cells=2)
        p = {k: torch.full((1,), float(v)) for k, v in BASE.items()}
        u = render_small.sample_noise(1, torch.Generator().manual_seed(0), torch.device("cpu"), torch.float32)
        render_small.evaluate(p, u, n=1, device=torch.device("cpu"), dtype=torch.float32)


def test_rendering_in_chunks_of_units_changes_nothing(monkeypatch):
    """The batch is rendered in chunks of units (so that each chunk's arrays stay in cache): the images are those of
    the whole batch rendered at once (varied parameters, vacancies, jitter, mains, background) to the last bits of
    float32 — not always to the bit: torch splits an elementwise kernel (exp, sqrt, sin/cos) between threads at a
    point that depends on the tensor's size, and the vectorised and scalar remainders of each part round differently
    on some CPUs (bit-identical with one thread). Same chunks and threads, same bits: the other tests check that."""
    n = 70  # more than one chunk
    g = torch.Generator().manual_seed(5)
    mech = ImageFormation(shape=(48, 48))
    params = {k: torch.full((n,), float(v)) for k, v in BASE.items()}
    params["rotation"] = 6.0 * torch.rand(n, generator=g)
    params["probe_sigma"] = 0.3 + torch.rand(n, generator=g)
    params.update(vacancy_fraction=torch.full((n,), 0.1), line_jitter=torch.full((n,), 0.2))
    params.update(mains_amplitude=torch.full((n,), 0.2), background=torch.full((n,), 0.01))
    u = mech.sample_noise(n, g, torch.device("cpu"), torch.float32)
    chunked = mech.evaluate(params, u, n=n, device=torch.device("cpu"), dtype=torch.float32)
    monkeypatch.setattr(imaging, "_CHUNK", n)
    at_once = mech.evaluate(params, u, n=n, device=torch.device("cpu"), dtype=torch.float32)
    assert float((chunked - at_once).abs().max()) <= 1e-5 * float(at_once.abs().max())
