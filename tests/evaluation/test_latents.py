"""MCC, probe R² and the disentanglement table against hand-made latents with known answers."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import causalphys as cp
from causalphys.errors import CausalPhysError
from causalphys.evaluation.latents import (
    LatentDataError,
    correlation_matrix,
    disentanglement_table,
    match_latents,
    mcc,
    probe_r2,
)


def sources(n=2000, d=3, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_a_permuted_rescaled_shifted_copy_has_mcc_one_and_the_matching_finds_the_permutation():
    s = sources()
    learned = s[:, [2, 0, 1]] * torch.tensor([2.0, -3.0, 0.5]) + 7.0
    assert mcc(s, learned) == pytest.approx(1.0)
    assert mcc(s, learned, method="spearman") == pytest.approx(1.0)
    m = match_latents(s, learned)
    assert m.true_index == (0, 1, 2) and m.learned_index == (1, 2, 0)
    assert m.correlations == pytest.approx((1.0, 1.0, 1.0)) and m.matrix.shape == (3, 3)


def test_independent_noise_has_mcc_near_zero():
    assert mcc(sources(seed=0), sources(seed=1)) < 0.1
    assert mcc(sources(seed=0), sources(seed=1), method="spearman") < 0.1


def test_spearman_is_invariant_to_monotone_transforms_and_pearson_is_not():
    s = sources()
    learned = torch.stack([torch.exp(2 * s[:, 1]), s[:, 2] ** 3, -torch.sigmoid(3 * s[:, 0])], dim=1)
    assert mcc(s, learned, "spearman") == pytest.approx(1.0)
    assert mcc(s, learned, "pearson") < 0.9


def test_numpy_arrays_vectors_and_more_learned_than_true_latents():
    s = sources(d=2).numpy()
    learned = np.column_stack([np.random.default_rng(0).normal(size=len(s)), s[:, 1], s[:, 0]])
    m = match_latents(s, learned)
    assert m.learned_index == (2, 1) and m.mcc == pytest.approx(1.0)
    assert mcc(s[:, 0], learned) == pytest.approx(1.0)  # a vector is one column


def test_a_constant_latent_counts_as_uncorrelated_not_nan():
    s = sources(d=2)
    learned = torch.column_stack([s[:, 0], torch.ones(len(s))])
    assert correlation_matrix(s, learned)[:, 1].tolist() == [0.0, 0.0]
    assert mcc(s, learned) == pytest.approx(0.5)


@settings(max_examples=25, deadline=None)
@given(
    perm=st.permutations([0, 1, 2, 3]),
    scales=st.lists(st.floats(0.1, 10.0) | st.floats(-10.0, -0.1), min_size=4, max_size=4),
)
def test_mcc_is_one_for_any_permutation_and_nonzero_rescaling(perm, scales):
    s = sources(n=200, d=4)
    assert mcc(s, s[:, list(perm)] * torch.tensor(scales, dtype=torch.float64)) == pytest.approx(1.0)


def test_linear_probe_is_one_for_a_linear_map_and_about_zero_for_noise():
    s = sources()
    learned = s @ torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 1.0], [0.0, 1.0, 3.0]], dtype=torch.float64)
    assert probe_r2(learned, s) == pytest.approx(np.ones(3), abs=1e-6)
    assert np.all(np.abs(probe_r2(sources(seed=1), s)) < 0.05)


def test_nonlinear_probe_fits_a_smooth_nonlinear_function_that_the_linear_one_misses():
    s = sources(n=800, d=2)
    true = torch.column_stack([s[:, 0] ** 2, torch.sin(2 * s[:, 1])])
    nonlinear = probe_r2(s, true, probe="nonlinear", n_components=100)
    assert np.all(nonlinear > 0.9)
    assert np.all(probe_r2(s, true, probe="linear") < 0.3)
    noise = probe_r2(sources(n=800, d=2, seed=1), true, probe="nonlinear", n_components=100)
    assert np.all(np.abs(noise) < 0.05)


def test_probes_are_deterministic_given_the_seed():
    s, z = sources(n=500), sources(n=500, seed=3)
    target = z + 0.1 * s
    assert np.array_equal(probe_r2(s, target, "nonlinear", seed=4), probe_r2(s, target, "nonlinear", seed=4))
    assert not np.array_equal(probe_r2(s, target, seed=4), probe_r2(s, target, seed=5))


def test_disentanglement_table_says_which_block_holds_which_variable():
    s = sources()
    learned = torch.column_stack([3 * s[:, 1], s[:, 0] - s[:, 2], s[:, 0] + s[:, 2]])
    rows = disentanglement_table(
        learned, s, blocks={"content": [0], "style": [1, 2]}, names=["dose", "thickness", "defocus"]
    )
    assert len(rows) == 6 and set(rows[0]) == {"block", "variable", "probe", "metric", "value"}
    r2 = {(r["block"], r["variable"]): r["value"] for r in rows}
    assert r2["content", "thickness"] == pytest.approx(1.0) and r2["style", "dose"] == pytest.approx(1.0)
    assert r2["style", "defocus"] == pytest.approx(1.0)
    assert abs(r2["content", "dose"]) < 0.05 and abs(r2["style", "thickness"]) < 0.05
    default = disentanglement_table(learned[:400], s[:400], probe="nonlinear", n_components=50)
    assert {r["block"] for r in default} == {"z0", "z1", "z2"} and {r["variable"] for r in default} == {
        "s0",
        "s1",
        "s2",
    }


def test_the_functions_are_exported_lazily():
    assert cp.evaluation.mcc is mcc and cp.evaluation.probe_r2 is probe_r2
    assert cp.evaluation.disentanglement_table is disentanglement_table


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mcc(sources(n=10), sources(n=11)), "10 rows but learned has 11"),
        (lambda: mcc(sources(n=1), sources(n=1)), "at least 2 rows"),
        (lambda: mcc(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]), sources(n=2)), "NaN value"),
        (lambda: mcc(sources(n=5), torch.full((5, 2), float("inf"))), "learned has 10 infinite"),
        (lambda: mcc(torch.zeros(4, 2, 2), sources(n=4)), "shape (n, d)"),
        (lambda: mcc(sources(), sources(), method="kendall"), "method must be one of"),
        (lambda: probe_r2(sources(n=5), sources(n=5)), "at least 2 training and 2 test rows"),
        (lambda: probe_r2(sources(), sources(), probe="forest"), "probe must be one of"),
        (lambda: probe_r2(sources(), sources(), test_fraction=1.5), "test_fraction"),
        (lambda: disentanglement_table(sources(), sources(), blocks={"a": [3]}), "column 3"),
        (lambda: disentanglement_table(sources(), sources(), blocks={"a": []}), "non-empty list"),
        (lambda: disentanglement_table(sources(), sources(), names=["a", "a", "b"]), "3 distinct names"),
    ],
)
def test_bad_inputs_raise_a_project_error_that_says_what_is_wrong(call, message):
    with pytest.raises(LatentDataError, match=None) as info:
        call()
    assert message in str(info.value)
    assert isinstance(info.value, CausalPhysError) and isinstance(info.value, ValueError)
