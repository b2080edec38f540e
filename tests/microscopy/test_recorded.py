"""Re-imaging a recorded image as a worse instrument would have recorded it: physics on the REAL SrTiO3 image
(``recorded_support.read_stem``: ``$CAUSALPHYS_STEM`` or ``../shared/data/stem/srtio3_adf.hdf5``; a missing file
fails) and the same laws on a small image simulated here, plus the SCM's contract (exact default, refusals,
counterfactuals, determinism, borders, the Degradation shift)."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage, stats

import causalphys as cp
from causalphys.errors import InterventionError, ParameterError
from causalphys.evaluation.shifts import NodeValues
from causalphys.microscopy import (
    INSTRUMENT_NODES,
    Degradation,
    RecordedInstrument,
    Toward,
    binomial_icdf,
    column_widths,
    instrument_of,
    lattice_vectors,
    recorded_scm,
)
from causalphys.microscopy.resample import gaussian_blur, kept_noise, resample, scan_positions
from tests.microscopy.recorded_support import (
    SRTIO3,
    fast_axis_reflection,
    loglog_slope,
    read_stem,
    simulated_counts,
    slow_axis_reflection,
    snr,
)


@pytest.fixture(scope="module")
def real():
    """The real recording, its estimated instrument (resolution from column fits, noise-equivalent dose) and SCM."""
    image, pixel_size = read_stem()
    instrument = RecordedInstrument.from_images(image, pixel_size)
    return image, instrument, recorded_scm(image, instrument)


@pytest.fixture(scope="module")
def simulated():
    """A simulated recording in counts at a known dose (exact binomial thinning applies)."""
    counts, expected, fraction = simulated_counts()
    instrument = RecordedInstrument.from_images(counts, 0.1, dose=2e5, counts=True)
    return counts, expected, instrument, recorded_scm(counts, instrument)


@pytest.fixture(scope="module", params=[pytest.param("real", marks=pytest.mark.real_data), "simulated"])
def recording(request, simulated):
    """``(images (n, H, W), recorded instrument, SCM)`` of the real and of the simulated recording (the real one
    asked for only by its own parameter: the simulated tests run without the shared data)."""
    if request.param == "real":
        image, instrument, scm = request.getfixturevalue("real")
        return image.unsqueeze(0), instrument, scm
    counts, _, instrument, scm = simulated
    return counts, instrument, scm


@pytest.mark.real_data
def test_the_real_image_is_srtio3_along_110_with_its_lattice_constant_within_one_percent(real):
    image, instrument, _ = real
    lattice = lattice_vectors(image, instrument.pixel_size)
    d1, d2 = lattice.spacings  # strongest first: (1-10) along the slow axis, then (002) along the fast axis
    # zone axis [110] of a cubic lattice: the in-plane cell is a x a√2, so the {1-10} planes (a/√2) and the
    # {002} planes (a/2) stand at 90° with a spacing ratio √2 ([001] would give 1, [111] 60°)
    assert abs(d1 / d2 / math.sqrt(2) - 1) < 0.02 and abs(lattice.angle - 90) < 2
    for a in (d1 * math.sqrt(2), d2 * 2):
        assert abs(a / SRTIO3 - 1) < 0.01, (d1, d2, lattice.angle)


def test_the_simulated_image_reads_its_lattice_constant_within_one_percent(simulated):
    counts, _, instrument, _ = simulated
    lattice = lattice_vectors(counts[0], instrument.pixel_size)
    # SrTiO3 along [001] as simulated: the strongest reflections are the {110}, a/√2, at 90° to each other
    assert abs(lattice.spacings[0] / lattice.spacings[1] - 1) < 0.01 and abs(lattice.angle - 90) < 1
    for d in lattice.spacings:
        assert abs(d * math.sqrt(2) / SRTIO3 - 1) < 0.01


def test_signal_to_noise_grows_as_the_square_root_of_the_dose(recording):
    # two re-imagings that differ only in their session noise: their difference holds the added noise alone (the
    # recording's own noise is shared). The range is 1/3000 to 1/100 of the recorded dose: there the added noise is
    # 99 % or more of the total (the recording's own shot noise, scaled by p = D / D_rec, is p of the total), and
    # enough electrons are detected (>= 1e3 over the field) for the SNR to be measured within a few percent
    images, instrument, scm = recording
    doses = instrument.dose * np.logspace(-3.5, -2, 5)
    ratios = []
    for dose in doses:
        first, second = (scm.do(recorded=images, dose=float(dose)).sample(len(images), seed=s)["image"] for s in (1, 2))
        ratios.append(snr(first, second, instrument.black_level))
    assert abs(loglog_slope(doses, ratios) - 0.5) < 0.05, ratios


def central(images: torch.Tensor) -> torch.Tensor:
    """The central quarter of each image (the column fits take a second per 200 columns)."""
    h, w = images.shape[-2:]
    return images[..., h // 4 : h // 4 + max(h // 2, 96), w // 4 : w // 4 + max(w // 2, 96)]


def median_width(images: torch.Tensor, pixel_size: float) -> float:
    """The median Gaussian width (Å) of the columns of the central part of ``images`` ``(n, H, W)``."""
    return float(np.median(np.concatenate([column_widths(x, pixel_size).sigma for x in central(images)])))


@pytest.fixture(scope="module")
def width_before(recording):
    images, instrument, _ = recording
    return median_width(images, instrument.pixel_size)


@pytest.mark.parametrize("sigma_add", [0.2, 0.3, 0.4])
def test_column_widths_grow_as_the_quadrature_sum_of_recorded_and_added_blur(recording, width_before, sigma_add):
    # up to 0.4 Å added (columns of ~0.65 Å): beyond that the weaker Ti column, 1.95 Å from Sr on the real [110]
    # image, merges into its neighbour's shoulder and stops being a maximum to fit
    images, instrument, scm = recording
    requested = math.sqrt(instrument.probe_sigma**2 + sigma_add**2)
    after = scm.do(recorded=images, probe_sigma=requested).sample(len(images), seed=0)["image"]
    expected = math.sqrt(width_before**2 + sigma_add**2)
    assert abs(median_width(after, instrument.pixel_size) / expected - 1) < 0.05, (width_before, expected)


def test_a_two_percent_scale_error_reads_back_from_the_fft_within_a_fifth_of_a_percent(recording):
    images, instrument, scm = recording
    before = lattice_vectors(images[0], instrument.pixel_size)
    scaled = scm.do(recorded=images[:1], scale_error_x=0.02).sample(1, seed=0)["image"][0]
    after = lattice_vectors(scaled, instrument.pixel_size)
    # a scale error s along an axis makes a lattice of spacing a read a (1 + s): k_x shrinks by 1 + s, k_y stays
    x_before, x_after = fast_axis_reflection(before)[0], fast_axis_reflection(after)[0]
    y_before, y_after = slow_axis_reflection(before)[1], slow_axis_reflection(after)[1]
    assert abs(abs(x_before / x_after) - 1 - 0.02) < 0.002, (x_before, x_after)
    assert abs(abs(y_before / y_after) - 1) < 0.002, (y_before, y_after)


@pytest.mark.real_data
def test_the_observational_default_gives_back_the_recording_exactly(real):
    image, instrument, scm = real
    batch = scm.sample(3, seed=0)
    assert torch.equal(batch["image"], image.expand(3, -1, -1)) and torch.equal(batch["recorded"], batch["image"])
    defaults = instrument.defaults
    assert sorted(defaults) == sorted(INSTRUMENT_NODES) and instrument_of(scm) is instrument
    assert all(float(batch[node][0]) == pytest.approx(value, rel=1e-6) for node, value in defaults.items())
    assert instrument.resolution_source == "estimated" and 0.3 < instrument.probe_sigma < 0.7
    assert instrument.dose_source == "estimated" and 1e4 < instrument.dose < 1e7


@pytest.mark.real_data
def test_a_better_instrument_than_recorded_is_refused_with_the_reason(real, simulated):
    _, instrument, scm = real
    with pytest.raises(ParameterError, match=r"narrower than the recorded resolution.*does not hold"):
        scm.do(probe_sigma=0.9 * instrument.probe_sigma).sample(1, seed=0)
    with pytest.raises(ParameterError, match=r"above the recorded dose.*\(estimated\).*does not hold"):
        scm.do(dose=2 * instrument.dose).sample(1, seed=0)
    _, _, _, sim = simulated  # a known recorded dose
    with pytest.raises(ParameterError, match=r"node 'dose'.*above the recorded dose 2e\+05 e⁻/Å² \(given\)"):
        sim.do(dose=3e5).sample(1, seed=0)
    with pytest.raises(ParameterError, match="node 'line_jitter'"):
        sim.do(line_jitter=-0.1).sample(1, seed=0)


@pytest.mark.real_data
def test_counterfactual_pairs_share_the_specimen_and_seeds_determine_everything(real):
    image, instrument, _ = real
    tiles = torch.stack([image[:200, :190], image[:200, 190:], image[200:, :190], image[200:, 190:]])
    scm = recorded_scm(tiles, instrument)
    batch = scm.sample(6, seed=4, return_noise=True)
    assert len({int(i) for i in batch.noise["recorded"].mul(4).floor()}) > 1  # units draw different tiles
    broad = scm.counterfactual(batch, {"probe_sigma": 1.0})
    dim = scm.counterfactual(batch, {"dose": 1000.0})
    assert torch.equal(broad["recorded"], batch["recorded"]) and torch.equal(dim["recorded"], batch["recorded"])
    assert not torch.equal(broad["image"], dim["image"])
    # two environments sampled with the same seed image the same tiles (common random numbers)
    a, b = scm.do(dose=1000.0).sample(6, seed=9), scm.do(probe_sigma=1.0, drift_speed=2.0).sample(6, seed=9)
    assert torch.equal(a["recorded"], b["recorded"])
    again, other = scm.do(dose=1000.0).sample(6, seed=9), scm.do(dose=1000.0).sample(6, seed=10)
    assert torch.equal(a["image"], again["image"]) and not torch.equal(a["image"], other["image"])
    # per-unit image-valued do: exactly these tiles, re-imaged
    given = scm.do(recorded=tiles.flip(0)).sample(4, seed=0)
    assert torch.equal(given["image"], tiles.flip(0))


def test_binomial_thinning_of_counts_is_exact(simulated):
    counts, expected, instrument, scm = simulated
    k = torch.tensor([0.0, 1, 5, 40, 300, 5000] * 50)
    p = torch.tensor([0.5, 0.01, 0.3, 0.9, 0.999, 0.5] * 50)
    u = torch.rand(300, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.equal(binomial_icdf(k, p, u), torch.from_numpy(stats.binom.ppf(u.numpy(), k.numpy(), p.numpy())))
    thinned = scm.do(recorded=counts, dose=2e4).sample(2, seed=0)["image"].to(torch.float64)
    assert torch.equal(thinned, thinned.round()) and bool((thinned <= counts).all())  # whole electrons, a subset
    # Poisson at the lower dose about the simulation's own expectation: dispersion index 1
    mean = 0.1 * expected
    assert abs(float(((thinned - mean) ** 2).sum() / mean.sum()) - 1) < 0.05


def test_noise_equivalent_dose_of_a_poisson_image_is_its_dose(simulated):
    counts, expected, _, _ = simulated
    fraction = float(expected.mean()) / (2e5 * 0.1**2)
    estimate = RecordedInstrument.from_images(7 * counts + 100, 0.1, black_level=100, mean_fraction=fraction)
    assert estimate.dose == pytest.approx(2e5, rel=0.1) and estimate.gain == pytest.approx(7, rel=0.1)
    assert estimate.probe_sigma == pytest.approx(0.45, rel=0.05)  # the simulated probe (pixels add ~0.01 Å)


def test_positions_outside_the_field_are_reflected_about_the_edge_pixels():
    image = torch.arange(12 * 9, dtype=torch.float64).view(12, 9) ** 1.5
    instrument = RecordedInstrument(pixel_size=0.2, probe_sigma=0.5, dose=1e5, saturation=1e6)
    scm = recorded_scm(image, instrument).intervene(image={"noise": None})  # the expected signal, no shot noise
    # scale error -1/2: column j reads the recording at c + 2 (j - c), c = 4: -4, -2, 0, ..., 12 -> 4, 2, 0, ..., 4
    out = scm.do(scale_error_x=-0.5).sample(1, seed=0, dtype=torch.float64)["image"][0]
    mirrored = [4, 2, 0, 2, 4, 6, 8, 6, 4]
    assert torch.allclose(out, image[:, mirrored], rtol=1e-9, atol=1e-9)
    # the probe's blur reflects too: a uniform image stays uniform up to its borders
    flat = recorded_scm(torch.full((16, 16), 5.0), instrument).intervene(image={"noise": None})
    blurred = flat.do(probe_sigma=1.5).sample(1, seed=0, dtype=torch.float64)["image"]
    assert torch.allclose(blurred, torch.full_like(blurred, 5.0), atol=1e-9)


@pytest.mark.real_data
def test_the_degradation_shift_moves_every_node_from_the_recording_toward_its_target(real):
    image, instrument, scm = real
    shift = Degradation({"probe_sigma": 1.2, "dose": 300.0, "drift_speed": 2.0}, levels=[0, 0.5, 1, 1.5])
    envs = shift.environments(scm)  # the SCM is a context: it has .nodes
    assert list(envs) == ["degradation=0", "degradation=0.5", "degradation=1", "degradation=1.5"]
    spec, info = envs["degradation=0.5"]
    assert (info.role, info.shift, info.level) == ("test", "degradation", 0.5) and "lab" not in spec
    environments = cp.Environments(scm, {name: spec for name, (spec, _) in envs.items()})
    batches = environments.sample(1, seed=0)
    assert torch.equal(batches["degradation=0"]["image"], image.unsqueeze(0))  # level 0 is the recording
    half = batches["degradation=0.5"]
    assert float(half["probe_sigma"]) == pytest.approx((instrument.probe_sigma + 1.2) / 2, rel=1e-6)
    assert float(half["dose"]) == pytest.approx(math.sqrt(instrument.dose * 300), rel=1e-6)  # geometric
    assert float(batches["degradation=1.5"]["drift_speed"]) == pytest.approx(3.0)

    class Context:  # a benchmark's context with labs
        nodes = (*scm.nodes, "lab")

        def lab_index(self, name):
            return {"train": 0, "test": 1}[name]

    spec, _ = Degradation({"dose": 300.0}, base_lab="test").environments(Context())["degradation=1"]
    assert spec["lab"] == 1.0
    with pytest.raises(ParameterError, match=r"levels must be finite numbers >= 0"):
        Degradation({"dose": 300.0}, levels=[-0.5])
    with pytest.raises(ParameterError, match=r"names node\(s\) \['probe_width'\]"):
        Degradation({"probe_width": 1.0}).environments(scm)
    with pytest.raises(InterventionError, match="needs a constant"):
        scm.intervene(image=Toward(1.0, 0.5))
    # NodeValues works against the recorded SCM too
    doses = NodeValues(node="dose", levels=[1e3, 1e2], base_lab=None).environments(scm)
    assert list(doses) == ["dose=1000", "dose=100"]
    out = cp.Environments(scm, {k: s for k, (s, _) in doses.items()}).sample(1, seed=0)
    assert float(out["dose=100"]["dose"]) == 100.0


def test_the_blur_reflects_like_scipy_and_the_kept_noise_is_what_blur_and_interpolation_leave():
    images = torch.rand((2, 40, 33), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma = torch.tensor([1.5, 0.0], dtype=torch.float64)
    blurred = gaussian_blur(images, sigma)
    reference = ndimage.gaussian_filter(images[0].numpy(), 1.5, mode="mirror", truncate=8.0)
    assert np.allclose(blurred[0].numpy(), reference, atol=1e-6) and torch.allclose(blurred[1], images[1])
    # white noise, blurred by 1.2 px and read between pixels at offsets (0.3, 0.5): its variance drops to kept_noise
    noise = torch.randn((1, 256, 256), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    blur = torch.tensor([1.2], dtype=torch.float64)
    y, x = torch.meshgrid(
        torch.arange(256.0, dtype=torch.float64), torch.arange(256.0, dtype=torch.float64), indexing="ij"
    )
    positions = torch.stack([x + 0.3, y + 0.5], -1).unsqueeze(0)
    read = resample(gaussian_blur(noise, blur), positions)[:, 8:-8, 8:-8]
    kept = kept_noise((256, 256), blur, positions)[:, 8:-8, 8:-8]
    assert float(read.var()) == pytest.approx(float(kept.mean()), rel=0.03)
    assert float(kept_noise((256, 256), torch.zeros(1, dtype=torch.float64), None).mean()) == 1.0


@pytest.mark.parametrize("change", [{"sigma_add": 0.4}, {"sigma_add": 0.4, "dose_fraction": 0.3}, {"scale_x": 0.013}])
def test_the_reimaged_noise_is_poisson_at_the_requested_dose(simulated, change):
    # the blur and the interpolation average away part of the recording's shot noise; the top-up restores the
    # Poisson variance of the requested dose about the expected signal (dispersion index 1, not w ≈ 0.005)
    counts, expected, instrument, scm = simulated
    fraction = change.get("dose_fraction", 1.0)
    sigma_add = change.get("sigma_add", 0.0)
    scale = change.get("scale_x", 0.0)
    do = {
        "recorded": counts,
        "probe_sigma": math.sqrt(instrument.probe_sigma**2 + sigma_add**2),
        "dose": fraction * instrument.dose,
        "scale_error_x": scale,
    }
    out = scm.do(**do).sample(2, seed=0, dtype=torch.float64)["image"]
    mean = gaussian_blur(expected, torch.full((2,), sigma_add / instrument.pixel_size, dtype=torch.float64))
    if scale:
        settings = {node: torch.zeros(2, dtype=torch.float64) for node in INSTRUMENT_NODES}
        settings.update(
            scale_error_x=torch.full((2,), scale, dtype=torch.float64), dwell_time=torch.ones(2, dtype=torch.float64)
        )
        zero = torch.zeros(2, dtype=torch.float64)
        positions = scan_positions((160, 160), 0.1, settings, torch.zeros(2, 160, dtype=torch.float64), zero, zero)
        mean = resample(mean, positions)
    mean = fraction * mean
    dispersion = float(((out - mean) ** 2).sum() / mean.sum())
    assert abs(dispersion - 1) < 0.05, dispersion


def test_bad_recordings_and_settings_name_what_is_wrong(simulated):
    counts, _, instrument, _ = simulated
    with pytest.raises(ParameterError, match=r"must be \(h, w\) or \(N, h, w\).*\(2, 3\)"):
        recorded_scm(torch.zeros(2, 3), instrument)
    with pytest.raises(ParameterError, match="whole numbers of electrons"):
        RecordedInstrument.from_images(counts + 0.5, 0.1, dose=2e5, counts=True)
    with pytest.raises(ParameterError, match=r"RecordedInstrument.probe_sigma must be a positive finite number"):
        RecordedInstrument(pixel_size=0.1, probe_sigma=-1.0, dose=1e5)
    with pytest.raises(ParameterError, match="or pixel_size"):
        recorded_scm(counts)
    per_unit = r"node 'recorded'.*each unit's \(150, 160\) does not fit the node's shape \(160, 160\)"
    with pytest.raises(ValueError, match=per_unit):
        recorded_scm(counts, instrument).do(recorded=torch.zeros(2, 150, 160), dose=1e3).sample(2, seed=0)


def test_a_new_session_redraws_the_re_imaging_noise_and_keeps_the_recording():
    """``reimage`` (a new imaging session) on a recorded SCM: the same recorded unit, the shot noise and scan noise
    the re-imaging adds drawn anew."""
    from causalphys.microscopy.reimage import reimage

    rng = torch.Generator().manual_seed(0)
    stack = 1000.0 + 100.0 * torch.rand(3, 16, 16, generator=rng, dtype=torch.float64)
    instrument = RecordedInstrument(pixel_size=0.3, probe_sigma=0.5, dose=1.0e5, gain=1.0, black_level=900.0)
    scm = recorded_scm(stack, instrument).do(dose=1.0e3)
    batch = scm.sample(3, seed=0, return_noise=True)
    first, second = reimage(scm, batch, {"dose": 1.0e3}, seed=1), reimage(scm, batch, {"dose": 1.0e3}, seed=2)
    assert torch.equal(first["recorded"], batch["recorded"]) and torch.equal(second["recorded"], batch["recorded"])
    assert not torch.equal(first["image"], second["image"])
    assert torch.equal(first["image"], reimage(scm, batch, {"dose": 1.0e3}, seed=1)["image"])
