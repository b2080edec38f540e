"""The detector: the Poisson inverse CDF against scipy, and the Detector mechanism inside an SCM."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

import causalphys as cp
from causalphys.microscopy.detector import DETECTOR_ROLES, Detector, DetectorNoise, _exact_quantile, poisson_icdf

SHAPE = (16, 16)


def uniforms(n: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    return torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def stratified(n: int, seed: int) -> torch.Tensor:
    """One uniform in each of the strata ``[i/n, (i+1)/n)``: the empirical distribution of any monotone map of them
    is within ~1/n of its true distribution in every cell, so a total-variation test sees the map, not Monte-Carlo
    noise (with iid uniforms even an exact sampler reads ~0.016 at λ = 1e5 and n = 1e6)."""
    return (torch.arange(n, dtype=torch.float64) + uniforms(n, seed)) / n


# -- poisson_icdf: the exact branch --------------------------------------------------------------------------------
def assert_is_quantile_function(counts: np.ndarray, u: np.ndarray, rate) -> int:
    """``counts`` equal ``scipy.stats.poisson.ppf(u, rate)`` except where ``u`` lies within 1e-9 of the CDF step
    between the two answers; returns the number of such ties."""
    ref = stats.poisson.ppf(u, rate)
    differ = counts != ref
    assert np.all(np.abs(counts - ref) <= 1), "counts more than one away from the Poisson quantile"
    rate_d = rate[differ] if np.ndim(rate) else rate
    step = stats.poisson.cdf(np.minimum(counts, ref)[differ], rate_d)
    assert np.all(np.abs(u[differ] - step) < 1e-9), "counts differ from the quantile away from a CDF step"
    return int(differ.sum())


@pytest.mark.parametrize("rate", [0.1, 1.0, 5.0, 20.0])
def test_exact_branch_is_the_poisson_quantile_function(rate):
    u = uniforms(200_000, seed=int(10 * rate))
    counts = poisson_icdf(torch.full_like(u, rate), u, exact_below=30.0)
    ties = assert_is_quantile_function(counts.numpy(), u.numpy(), rate)
    print(f"rate {rate:g}: {ties} of {u.numel()} counts differ from scipy (each at a CDF step)")


def test_exact_branch_with_mixed_rates_and_extreme_uniforms():
    n = 100_000
    rate = 30.0 * uniforms(n, seed=1)  # every element exact, each with its own rate
    u = uniforms(n, seed=2)
    u[:4] = torch.tensor([1e-300, 1e-12, 1 - 1e-12, 0.5], dtype=torch.float64)
    counts = poisson_icdf(rate, u, exact_below=30.0).numpy()
    assert_is_quantile_function(counts, u.numpy(), rate.numpy())


def test_mixed_branches_keep_each_element_in_place():
    """Low and high rates in one tensor, scattered: each element gets what it gets alone."""
    rate = torch.tensor([[0.0, 3.0, 500.0], [29.99, 30.0, 1e4]], dtype=torch.float64)
    u = torch.tensor([[0.3, 0.9, 0.1], [0.5, 0.5, 0.999]], dtype=torch.float64)
    together = poisson_icdf(rate, u)
    alone = torch.stack([poisson_icdf(r, v) for r, v in zip(rate.reshape(-1), u.reshape(-1))]).reshape(2, 3)
    assert torch.equal(together, alone)
    assert together[0, 0] == 0


def test_rate_zero_gives_zero_and_edges_of_u():
    for exact_below in (30.0, 0.0):  # 0: everything through the approximation, rate 0 still gives 0
        assert poisson_icdf(torch.zeros(5), torch.linspace(0, 1, 5), exact_below).eq(0).all()
    rate = torch.tensor([5.0, 50.0])
    assert poisson_icdf(rate, torch.zeros(2)).eq(0).all()
    top = poisson_icdf(rate, torch.ones(2))  # u = 1: a finite count far in the tail
    assert torch.isfinite(top).all() and (top > rate + 5 * rate.sqrt()).all()


def test_shape_dtype_and_broadcasting():
    u = uniforms(2 * 8 * 8, seed=3, dtype=torch.float32).reshape(2, 8, 8)
    rate = torch.full((2, 8, 8), 40.0)
    counts = poisson_icdf(rate, u)
    assert counts.shape == (2, 8, 8) and counts.dtype == torch.float32
    assert torch.equal(counts, counts.round())
    assert torch.equal(poisson_icdf(torch.tensor(40.0), u), counts)  # a scalar rate broadcasts
    assert poisson_icdf(rate.double(), u).dtype == torch.float64


# -- poisson_icdf: the approximate branch --------------------------------------------------------------------------
# Recorded by this test (N = 2**20 stratified uniforms, seed 7); poisson_icdf's docstring quotes them.
SHOWN = {  # rate: (TV of ours, TV of the exact quantile on the same uniforms, fraction where ours != exact)
    30.0: (7.83e-4, 1.46e-5, 8.14e-3),
    100.0: (2.36e-4, 1.97e-5, 4.44e-3),
    1000.0: (7.43e-5, 6.82e-5, 1.41e-3),
    1e5: (6.03e-4, 6.12e-4, 1.04e-4),
}


@pytest.mark.parametrize("rate", [30.0, 100.0, 1000.0, 1e5])
def test_approximate_branch_total_variation(rate):
    n = 2**20
    u = stratified(n, seed=7)
    counts = poisson_icdf(torch.full_like(u, rate), u).numpy().astype(np.int64)
    hi = int(max(counts.max(), stats.poisson.ppf(1 - 1e-15, rate))) + 1
    support = np.arange(hi + 1)
    pmf, cdf = stats.poisson.pmf(support, rate), stats.poisson.cdf(support, rate)

    def tv(k):
        empirical = np.bincount(k, minlength=hi + 1) / n
        return 0.5 * (np.abs(empirical - pmf).sum() + (1 - pmf.sum()))

    exact = np.searchsorted(cdf, u.numpy(), side="left")  # smallest k with F(k) >= u
    tv_ours, tv_exact, mismatch = tv(counts), tv(exact), float(np.mean(counts != exact))
    print(f"rate {rate:g}: TV ours {tv_ours:.2e}, TV exact quantile {tv_exact:.2e}, P(ours != exact) {mismatch:.2e}")
    assert tv_ours < 0.01
    assert mismatch < 0.01  # the coupling bound: TV(ours, Poisson) <= P(ours != exact quantile)
    shown_tv, shown_exact, shown_mismatch = SHOWN[rate]
    assert tv_ours == pytest.approx(shown_tv, rel=0.1, abs=2e-5)
    assert tv_exact == pytest.approx(shown_exact, rel=0.1, abs=2e-5)
    assert mismatch == pytest.approx(shown_mismatch, rel=0.2)
    assert abs(counts.mean() - rate) < 0.01 * math.sqrt(rate)
    assert counts.var() / rate == pytest.approx(1.0, abs=0.01)  # + (1/12 + 1/18)/rate from rounding at 30


# -- poisson_icdf: determinism and the quantile coupling -----------------------------------------------------------
def test_same_noise_same_counts():
    rate = 60.0 * uniforms(20_000, seed=4)
    u = uniforms(20_000, seed=5)
    first = poisson_icdf(rate, u)
    assert torch.equal(first, poisson_icdf(rate.clone(), u.clone()))
    assert torch.equal(first[::7], poisson_icdf(rate[::7], u[::7]))  # no element depends on another


def test_counts_are_nondecreasing_in_rate_and_in_u():
    u = uniforms(2_000, seed=6)
    for rates in (torch.linspace(0.0, 29.99, 200), torch.linspace(30.0, 3000.0, 200)):  # within each branch
        counts = poisson_icdf(rates[:, None].double().expand(-1, u.numel()), u.expand(rates.numel(), -1))
        assert (counts.diff(dim=0) >= 0).all()
    for rate in (0.5, 12.0, 30.0, 400.0):
        ordered = poisson_icdf(torch.full_like(u, rate), u.sort().values)
        assert (ordered.diff() >= 0).all()


def test_coupling_across_exact_below_steps_back_at_most_one_count_rarely():
    u = uniforms(100_000, seed=8)
    below = poisson_icdf(torch.full_like(u, 29.999), u)
    above = poisson_icdf(torch.full_like(u, 30.0), u)
    back = above < below
    assert (below - above).max() <= 1
    assert back.double().mean() < 0.006  # about 0.4 % of the uniforms


@pytest.mark.parametrize(
    "rate, u, message",
    [
        (torch.tensor([1.0, -0.5]), torch.tensor([0.5, 0.5]), "rate must be >= 0"),
        (torch.tensor([1.0, math.nan]), torch.tensor([0.5, 0.5]), "rate is NaN"),
        (torch.tensor([math.inf]), torch.tensor([0.5]), "finite"),
        (torch.tensor([1.0]), torch.tensor([1.5]), r"u must hold uniforms in \[0, 1\]"),
        (torch.tensor([1.0]), torch.tensor([1]), "floating-point"),
    ],
)
def test_poisson_icdf_rejects_bad_input(rate, u, message):
    with pytest.raises(cp.ParameterError, match=message):
        poisson_icdf(rate, u)


def test_poisson_icdf_rejects_bad_exact_below():
    with pytest.raises(cp.ParameterError, match="exact_below"):
        poisson_icdf(torch.ones(2), torch.full((2,), 0.5), exact_below=1000.0)


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


# -- the search's blocks and passes, and the detector's chunks, change no count ---------------------------------------
def sequential_search(rate: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The exact branch written plainly: every element steps ``F(k+1) = F(k) + s_{k+1} q_{k+1}`` (the same float64
    operations as the library's search) until ``F(k) >= u`` everywhere; the count is the number of steps with
    ``F(k) < u``, or for ``k_max = λ_max + 40 √λ_max + 100`` steps (the library's guard)."""
    lam, v = rate.double().reshape(-1), u.double().reshape(-1).clamp(max=1.0 - 2.0**-40)
    q = torch.exp(-lam)
    cdf, count, k, scale = q.clone(), torch.zeros_like(lam), 0, 1.0
    lam_max = float(lam.max())
    while bool((cdf < v).any()) and k < int(lam_max + 40.0 * math.sqrt(lam_max) + 100):
        count += (cdf < v).double()
        k += 1
        q.mul_(lam)
        scale /= k
        if scale < 1e-100:
            q.mul_(scale)
            scale = 1.0
        cdf.add_(q, alpha=scale)
    return count.reshape(rate.shape)


@pytest.mark.parametrize("exact_below, n", [(10.0, 2**17), (200.0, 2**15)])
def test_blocked_search_equals_the_plain_sequential_search(exact_below, n):
    """Several blocks and passes (rates spanning the exact branch, a few u at the extremes; at 200 the scale is
    folded into q): the same counts, to the bit, as the plain search on each element."""
    rate = exact_below * uniforms(n, seed=11) ** 2
    u = uniforms(n, seed=12)
    u[:3] = torch.tensor([0.0, 1.0, 1.0 - 1e-15], dtype=torch.float64)
    u_before = u.clone()
    counts = poisson_icdf(rate, u, exact_below=exact_below)
    assert torch.equal(u, u_before)  # the caller's tensors are not touched
    assert torch.equal(counts, sequential_search(rate, u))
    low = rate < exact_below  # the block size (a GPU's is one block for all) changes no count either
    for block in (1000, n):
        assert torch.equal(_exact_quantile(rate[low], u[low], block=block), counts[low])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_search_equals_the_lockstep_search(dtype):
    """The CPU's compiled search (each element to its own end, four at a time) and the lockstep torch search (the
    GPU's) give the same counts to the bit: rates up to 700 (where s_k is folded into q), u at 0, 1 and a hair below
    1, lengths that are not a multiple of four, float32 and float64 in and out, and nothing at all."""
    g = torch.Generator().manual_seed(21)
    for n, top in ((4099, 10.0), (1027, 700.0), (3, 5.0), (0, 1.0)):
        rate = (top * torch.rand(n, generator=g, dtype=torch.float64) ** 2).to(dtype)
        u = torch.rand(n, generator=g, dtype=torch.float64).to(dtype)
        u[: min(n, 3)] = torch.tensor([0.0, 1.0, 1.0 - 1e-7], dtype=dtype)[: min(n, 3)]
        compiled = _exact_quantile(rate, u, dtype)
        assert compiled.dtype == dtype and compiled.shape == (n,)
        assert torch.equal(compiled, _exact_quantile(rate, u, dtype, block=512))
    strided = torch.rand(200, generator=g)[::2] * 8  # a view with a stride: searched the same
    assert torch.equal(_exact_quantile(strided, strided / 8), _exact_quantile(strided, strided / 8, block=64))


def test_units_of_a_batch_split_between_the_branches_like_elements_alone():
    """Units mostly below ``exact_below`` (a low-dose image), mostly above it, and all of one kind, in one batch:
    every count is what the element gets on its own."""
    g = torch.Generator().manual_seed(13)
    scale = torch.tensor([3.0, 12.0, 40.0, 2e3, 9.0, 11.0]).view(-1, 1, 1)
    rate = scale * torch.rand(6, 16, 16, generator=g)
    u = torch.rand(6, 16, 16, generator=g)
    together = poisson_icdf(rate, u)
    alone = torch.stack([poisson_icdf(r.view(1), v.view(1)) for r, v in zip(rate.view(-1), u.view(-1))])
    low = rate < 10
    assert low.any(dim=(1, 2)).all() and not low.all()
    assert torch.equal(together, alone.view(rate.shape))
    assert torch.equal(together[low], sequential_search(rate[low], u[low]).float())


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
