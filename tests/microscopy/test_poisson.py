"""The Poisson inverse CDF (causalphys.microscopy.poisson): against scipy, its two branches, the quantile coupling,
and the search's blocks, passes and compiled path against a plain sequential search."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

import causalphys as cp
from causalphys.microscopy.poisson import exact_quantile, poisson_icdf


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


# -- the search's blocks, passes and compiled path change no count ----------------------------------------------------
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
        assert torch.equal(exact_quantile(rate[low], u[low], block=block), counts[low])


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
        compiled = exact_quantile(rate, u, dtype)
        assert compiled.dtype == dtype and compiled.shape == (n,)
        assert torch.equal(compiled, exact_quantile(rate, u, dtype, block=512))
    strided = torch.rand(200, generator=g)[::2] * 8  # a view with a stride: searched the same
    assert torch.equal(exact_quantile(strided, strided / 8), exact_quantile(strided, strided / 8, block=64))


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
