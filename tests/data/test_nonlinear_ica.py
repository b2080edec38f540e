"""The iVAE paper's synthetic nonlinear ICA data: shapes, seeds, per-segment statistics, an invertible mixing."""

import pytest
import torch

import causalphys as cp
from causalphys.data.nonlinear_ica import NonlinearICA, mixing_matrix, nonlinear_ica
from causalphys.errors import ParameterError


def test_shapes_names_and_pooled_views():
    p = nonlinear_ica(n_segments=12, n_per_segment=30, n_latents=3, n_layers=2)
    assert isinstance(p, NonlinearICA) and cp.data.nonlinear_ica is nonlinear_ica
    assert list(p.envs) == [f"segment{u:02d}" for u in range(12)]
    for x, s in p.envs.values():
        assert x.shape == s.shape == (30, 3) and x.dtype == s.dtype == torch.float32
    assert p.x.shape == p.sources.shape == (360, 3) and p.segment.tolist() == [u for u in range(12) for _ in range(30)]
    assert p.means.shape == p.scales.shape == (12, 3) and len(p.weights) == 2
    assert all(w.shape == (3, 3) for w in p.weights)
    assert list(nonlinear_ica(n_segments=101, n_per_segment=1, n_latents=1).envs)[-1] == "segment100"


def test_same_seed_same_data_other_seed_other_data_and_mixing_independent_of_the_sample_size():
    a, b = nonlinear_ica(n_segments=4, n_per_segment=50, seed=3), nonlinear_ica(n_segments=4, n_per_segment=50, seed=3)
    assert all(torch.equal(a.envs[k][0], b.envs[k][0]) and torch.equal(a.envs[k][1], b.envs[k][1]) for k in a.envs)
    assert not torch.equal(a.x, nonlinear_ica(n_segments=4, n_per_segment=50, seed=4).x)
    bigger = nonlinear_ica(n_segments=4, n_per_segment=80, seed=3)
    assert all(torch.equal(u, v) for u, v in zip(a.weights, bigger.weights)) and torch.equal(a.scales, bigger.scales)


def test_sources_have_the_segment_scales_and_means():
    p = nonlinear_ica(n_segments=5, n_per_segment=4000, n_latents=3, seed=1)
    for u, (_, s) in enumerate(p.envs.values()):
        assert torch.allclose(s.std(0), p.scales[u], rtol=0.06)
        assert torch.allclose(s.mean(0), torch.zeros(3), atol=0.15 * float(p.scales[u].max()))
    assert p.scales.min() >= 0.5 and p.scales.max() <= 3.0
    assert p.scales.std(0).min() > 0.2  # the scales really change from segment to segment
    shifted = nonlinear_ica(n_segments=5, n_per_segment=4000, n_latents=3, seed=1, mean_range=5.0)
    assert shifted.means.abs().max() <= 5.0 and shifted.means.std() > 1.0
    for u, (_, s) in enumerate(shifted.envs.values()):
        assert torch.allclose(s.mean(0), shifted.means[u], atol=0.15 * float(shifted.scales[u].max()))


def test_laplace_sources_have_unit_variance_noise_and_heavy_tails():
    p = nonlinear_ica(n_segments=1, n_per_segment=20000, n_latents=2, distribution="laplace", seed=2)
    eps = p.sources / p.scales[0]
    assert torch.allclose(eps.std(0), torch.ones(2), rtol=0.05)
    kurtosis = ((eps - eps.mean(0)) ** 4).mean(0) / eps.var(0) ** 2
    assert torch.all(kurtosis > 5.0)  # Laplace: 6, Gaussian: 3


def test_the_mixing_is_well_conditioned_and_exactly_invertible():
    p = nonlinear_ica(n_segments=6, n_per_segment=100, n_latents=5, n_layers=3, seed=0)
    for w in p.weights:
        assert torch.allclose(w.norm(dim=0), torch.ones(5), atol=1e-5)
        assert torch.linalg.cond(w) < 10
    assert torch.allclose(p.unmix(p.x), p.sources, atol=1e-4)
    assert torch.allclose(p.mix(p.sources), p.x)
    linear = nonlinear_ica(n_segments=2, n_per_segment=10, n_latents=3, n_layers=1)
    assert torch.allclose(linear.x, linear.sources @ linear.weights[0])


def test_the_kept_matrix_is_below_the_condition_quantile():
    gen = torch.Generator().manual_seed(0)
    conditions = torch.stack([torch.linalg.cond(mixing_matrix(4, gen, 0.1, 2000)) for _ in range(20)])
    unconstrained = torch.stack([torch.linalg.cond(mixing_matrix(4, gen, 1.0, 1)) for _ in range(200)])
    assert conditions.max() <= torch.quantile(unconstrained, 0.2)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"n_segments": 0}, "n_segments"),
        ({"n_latents": 2.5}, "n_latents"),
        ({"n_layers": True}, "n_layers"),
        ({"distribution": "cauchy"}, "distribution"),
        ({"scale_low": 0.0}, "scale_low"),
        ({"scale_low": 2.0, "scale_high": 1.0}, "scale_high"),
        ({"slope": 0.0}, "slope"),
        ({"slope": 1.5}, "slope"),
        ({"mean_range": -1.0}, "mean_range"),
        ({"seed": "0"}, "seed"),
    ],
)
def test_bad_settings_name_the_key(kwargs, key):
    with pytest.raises(ParameterError, match=key):
        nonlinear_ica(n_per_segment=2, **kwargs)
