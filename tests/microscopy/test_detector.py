"""The Detector mechanism inside an SCM: shot noise, read noise, saturation, parents, noise and errors (its Poisson
counts: tests/microscopy/test_poisson.py)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

import causalphys as cp
from causalphys.microscopy.detector import DETECTOR_ROLES, Detector, DetectorNoise

SHAPE = (16, 16)


# -- the Detector mechanism in an SCM ------------------------------------------------------------------------------
PATTERN = 0.6 + 0.4 * torch.cos(torch.arange(SHAPE[0]) * 0.8)[:, None] * torch.cos(torch.arange(SHAPE[1]) * 0.8)


def detector_scm(
    dose=None, pixel_area=0.1, gain=1.0, offset=0.0, read_noise=0.0, saturation=1e9, clean=None, shape=SHAPE
) -> cp.SCM:
    """Roots for the parents and ``image := Detector``. By default the clean image is a lattice-like pattern scaled
    by a per-unit thickness, and the dose is log-normal around 200 e-/Å²."""
    mechs = {
        "dose": cp.mech.LogNormal(math.log(200.0), 0.5) if dose is None else cp.mech.Constant(dose),
        "pixel_area": cp.mech.Constant(pixel_area),
        "gain": cp.mech.Constant(gain),
        "offset": cp.mech.Constant(offset),
        "read_noise": cp.mech.Constant(read_noise),
        "saturation": cp.mech.Constant(saturation),
        "image": Detector(shape),
    }
    edges = [(role, "image") for role in DETECTOR_ROLES]
    if clean is None:
        pattern = PATTERN[: shape[0], : shape[1]]
        mechs["thickness"] = cp.mech.Uniform(0.5, 1.5)
        mechs["clean"] = cp.mech.Function(lambda thickness: 0.05 * thickness[:, None, None] * pattern, shape=shape)
        edges.append(("thickness", "clean"))
    else:
        mechs["clean"] = cp.mech.Constant(torch.full(shape, float(clean)), per_unit=False)
    return cp.SCM(edges, mechs)


def test_recorded_noise_reproduces_the_image_exactly():
    scm = detector_scm(gain=3.0, offset=20.0, read_noise=2.0)
    batch = scm.sample(8, seed=0, return_noise=True)
    assert batch["image"].shape == (8, *SHAPE) and batch.noise["image"].shape == (8, 2, *SHAPE)
    assert torch.equal(scm.sample(8, seed=0)["image"], batch["image"])  # same seed, same image
    same = scm.counterfactual(batch, do={"dose": batch["dose"]})
    assert torch.equal(same["image"], batch["image"])
    with pytest.raises(cp.CounterfactualError, match="not invertible"):
        scm.counterfactual(scm.sample(8, seed=0), do={"dose": batch["dose"]})


def test_counterfactual_dose_is_quantile_coupled():
    """The same frame at twice the dose: counts (gain 1, offset 0, no read noise) never fall, pixel by pixel."""
    scm = detector_scm()
    batch = scm.sample(8, seed=1, return_noise=True)
    rate = batch["dose"][:, None, None] * 0.1 * batch["clean"]
    assert float(2 * rate.max()) < 30.0  # both doses on the exact branch
    double = scm.counterfactual(batch, do={"dose": 2 * batch["dose"]})
    assert (double["image"] >= batch["image"]).all()
    assert double["image"].mean() / batch["image"].mean() == pytest.approx(2.0, rel=0.05)


def test_snr_grows_as_the_square_root_of_dose():
    """Flat image, no read noise: SNR = mean/std over pixels = sqrt(dose · pixel_area · clean), slope 1/2 in log-log;
    rates 2.5, 25, 250, 2500 cover both branches of poisson_icdf."""
    scm, doses, snr = detector_scm(clean=0.1, pixel_area=0.25, gain=2.0, shape=(32, 32)), [1e2, 1e3, 1e4, 1e5], []
    for dose in doses:
        image = scm.do(dose=dose).sample(4, seed=2)["image"].double()
        snr.append(float(image.mean() / image.std()))
    slope = np.polyfit(np.log(doses), np.log(snr), 1)[0]
    assert slope == pytest.approx(0.5, abs=0.03)
    assert snr == pytest.approx([math.sqrt(d * 0.025) for d in doses], rel=0.05)


def test_read_noise_and_offset_on_a_dark_frame():
    image = detector_scm(clean=0.0, dose=100.0, offset=100.0, read_noise=5.0, shape=(32, 32)).sample(4, seed=3)
    assert float(image["image"].mean()) == pytest.approx(100.0, abs=0.3)
    assert float(image["image"].std()) == pytest.approx(5.0, rel=0.05)


def test_saturation_clips_and_zero_floors():
    scm = detector_scm(clean=0.1, dose=1e4, pixel_area=0.25, gain=4.0, offset=10.0, saturation=1000.0)
    image = scm.sample(8, seed=4)["image"]
    assert float(image.max()) == 1000.0
    clipped = float((image == 1000.0).double().mean())  # P(4 N + 10 >= 1000) = P(N >= 248), N ~ Poisson(250)
    assert clipped == pytest.approx(stats.poisson.sf(247, 250), abs=0.03)
    dark = detector_scm(clean=0.0, dose=1.0, read_noise=10.0).sample(8, seed=5)["image"]
    assert float(dark.min()) == 0.0
    assert float((dark == 0).double().mean()) == pytest.approx(0.5, abs=0.03)


def test_without_noise_the_image_is_the_expected_signal():
    scm = detector_scm(clean=0.1, dose=1e3, pixel_area=0.25, gain=2.0, offset=5.0, saturation=60.0)
    ideal = scm.intervene(image=cp.SetNoise(None)).sample(2, seed=6)["image"]
    assert torch.allclose(ideal, torch.full((2, *SHAPE), 55.0))


# -- the Detector: parents, noise, errors --------------------------------------------------------------------------
def good_parents(n=2, shape=SHAPE) -> dict[str, torch.Tensor]:
    return {
        "clean": torch.full((n, *shape), 0.1),
        "dose": torch.full((n,), 100.0),
        "pixel_area": torch.full((n,), 0.25),
        "gain": torch.full((n,), 2.0),
        "offset": torch.full((n,), 10.0),
        "read_noise": torch.full((n,), 1.0),
        "saturation": torch.full((n,), 1000.0),
    }


def evaluate(detector, parents, n=2, seed=0):
    u = detector.sample_noise(n, torch.Generator().manual_seed(seed), torch.device("cpu"), torch.float32)
    return detector.evaluate(parents, u, n=n, device=torch.device("cpu"), dtype=torch.float32)


@pytest.mark.parametrize(
    "role, value, message",
    [
        ("dose", 0.0, r"dose \(node 'dose'\) must be > 0"),
        ("dose", -5.0, r"dose \(node 'dose'\) must be > 0"),
        ("dose", math.nan, r"dose \(node 'dose'\) must be finite"),
        ("pixel_area", 0.0, r"pixel_area \(node 'pixel_area'\) must be > 0"),
        ("gain", -1.0, r"gain \(node 'gain'\) must be > 0"),
        ("read_noise", -1.0, r"read_noise \(node 'read_noise'\) must be >= 0"),
        ("offset", math.inf, r"offset \(node 'offset'\) must be finite"),
        ("saturation", 10.0, r"saturation \(node 'saturation'\) must be > offset \(node 'offset'\)"),
        ("clean", -0.01, r"clean \(node 'clean'\) must be >= 0"),
    ],
)
def test_bad_parameters_raise_naming_the_parameter(role, value, message):
    parents = good_parents()
    parents[role] = parents[role].clone()
    parents[role][1] = value  # unit 1 only
    with pytest.raises(cp.ParameterError, match=message) as err:
        evaluate(Detector(SHAPE), parents)
    assert "first unit 1" in str(err.value)


def test_bad_parameter_in_an_scm_names_the_node_and_the_parameter():
    with pytest.raises(cp.MechanismError, match=r"node 'image'.*gain \(node 'gain'\) must be > 0"):
        detector_scm(gain=0.0).sample(2, seed=0)


def test_bad_shapes_raise():
    parents = good_parents()
    parents["clean"] = torch.zeros(2, 8, 8)
    with pytest.raises(cp.ParameterError, match=r"clean \(node 'clean'\) must have shape \(2, 16, 16\)"):
        evaluate(Detector(SHAPE), parents)
    parents = good_parents()
    parents["gain"] = torch.ones(2, 3)
    with pytest.raises(cp.ParameterError, match=r"gain \(node 'gain'\) must have shape \(2,\) \(one value per unit\)"):
        evaluate(Detector(SHAPE), parents)
    with pytest.raises(cp.ParameterError, match="detector noise must have shape"):
        Detector(SHAPE).evaluate(good_parents(), torch.zeros(2, 1, *SHAPE), n=2, device="cpu", dtype=torch.float32)


def test_per_pixel_parameters_are_accepted():
    parents = good_parents()
    parents["read_noise"] = torch.zeros(2)
    parents["gain"] = torch.ones(2, *SHAPE) * torch.linspace(1.0, 2.0, SHAPE[1])  # a gain map
    image = evaluate(Detector(SHAPE), parents)
    parents["gain"] = torch.ones(2)
    flat = evaluate(Detector(SHAPE), parents)  # same noise: the counts are the same, the gain maps them
    assert torch.allclose(image - 10.0, (flat - 10.0) * torch.linspace(1.0, 2.0, SHAPE[1]))


def test_parents_can_be_renamed():
    det = Detector(SHAPE, parents={"dose": "beam_dose", "clean": "adf"})
    assert det.parent_names() == frozenset({"beam_dose", "adf", *DETECTOR_ROLES} - {"dose", "clean"})
    parents = good_parents()
    parents["beam_dose"], parents["adf"] = parents.pop("dose"), parents.pop("clean")
    assert torch.equal(evaluate(det, parents), evaluate(Detector(SHAPE), good_parents()))
    parents["beam_dose"] = torch.zeros(2)
    with pytest.raises(cp.ParameterError, match=r"dose \(node 'beam_dose'\)"):
        evaluate(det, parents)
    with pytest.raises(cp.ParameterError, match=r"unknown detector role\(s\) \['current'\]"):
        Detector(SHAPE, parents={"current": "i"})
    assert "beam_dose" in repr(det)


def test_detector_noise_draws_uniforms_then_normals():
    noise = DetectorNoise((32, 32))
    u = noise.sample(8, torch.Generator().manual_seed(0), torch.device("cpu"), torch.float64)
    assert u.shape == (8, 2, 32, 32) and noise.shape == (2, 32, 32)
    assert float(u[:, 0].min()) >= 0.0 and float(u[:, 0].max()) < 1.0
    assert float(u[:, 0].mean()) == pytest.approx(0.5, abs=0.01)
    assert float(u[:, 1].mean()) == pytest.approx(0.0, abs=0.03)
    assert float(u[:, 1].std()) == pytest.approx(1.0, abs=0.02)
    again = noise.sample(8, torch.Generator().manual_seed(0), torch.device("cpu"), torch.float64)
    assert torch.equal(u, again)
    assert repr(noise) == "DetectorNoise(shape=(32, 32))" and noise == DetectorNoise((32, 32))
    assert not Detector(SHAPE).invertible


# -- the detector's chunks change no count ---------------------------------------------------------------------------
def test_detector_chunks_change_nothing_and_errors_name_the_unit():
    """A batch larger than the detector's chunk of units: each unit's image is what it is alone; a bad rate in a
    later chunk is named by its place in the whole batch."""
    n, shape = 70, (8, 8)
    det = Detector(shape)
    g = torch.Generator().manual_seed(14)
    parents = good_parents(n, shape)
    parents["clean"] = 0.5 * torch.rand(n, *shape, generator=g)
    parents["dose"] = torch.logspace(0, 4, n)  # rates from 0 to 1250: both branches
    u = det.sample_noise(n, g, torch.device("cpu"), torch.float32)
    cpu, f32 = torch.device("cpu"), torch.float32
    whole = det.evaluate(parents, u, n=n, device=cpu, dtype=f32)
    for i in (0, 65, 69):
        one = det.evaluate({k: v[i : i + 1] for k, v in parents.items()}, u[i : i + 1], n=1, device=cpu, dtype=f32)
        assert torch.equal(one, whole[i : i + 1])
    parents["dose"], parents["pixel_area"] = parents["dose"].clone(), parents["pixel_area"].clone()
    parents["dose"][66], parents["pixel_area"][66] = 1e30, 1e10  # finite, but the rate overflows
    with pytest.raises(cp.ParameterError, match=r"Poisson rate must be finite, got inf at .*first at index \(66, "):
        det.evaluate(parents, u, n=n, device=cpu, dtype=f32)
