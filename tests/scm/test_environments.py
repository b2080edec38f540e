import pytest
import torch

import causalphys as cp

from .models import lab_scm


def test_environments_are_named_interventions():
    envs = cp.Environments(lab_scm(), {"lab_a": {"lab": 0}, "lab_b": {"lab": 1}, "observational": {}})
    assert list(envs) == ["lab_a", "lab_b", "observational"]
    batches = envs.sample(20_000, seed=0)
    assert torch.all(batches["lab_a"]["lab"] == 0) and torch.all(batches["lab_b"]["lab"] == 1)
    assert batches["lab_a"]["phase"].mean().item() == pytest.approx(0.2, abs=0.015)
    assert batches["lab_b"]["phase"].mean().item() == pytest.approx(0.8, abs=0.015)


def test_each_environment_has_its_own_seed_derived_from_the_run_seed():
    envs = cp.Environments(lab_scm(), {"a": {}, "b": {}})
    assert envs.seed("a", 0) != envs.seed("b", 0) != envs.seed("a", 1)
    first, again, other = envs.sample(100, seed=0), envs.sample(100, seed=0), envs.sample(100, seed=1)
    assert torch.equal(first["a"]["image"], again["a"]["image"])
    assert not torch.equal(first["a"]["image"], first["b"]["image"])  # same SCM, independent draws
    assert not torch.equal(first["a"]["image"], other["a"]["image"])


def test_sizes_per_environment_and_sampling_options():
    envs = cp.Environments(lab_scm(), {"a": {}, "b": {"scanner": 1}})
    out = envs.sample({"a": 5, "b": 7}, seed=0, dtype=torch.float64, return_noise=True)
    assert out["a"].n == 5 and out["b"].n == 7
    assert out["b"]["image"].dtype == torch.float64 and out["b"].noise is not None
    with pytest.raises(cp.InterventionError, match=r"missing: \['b'\]"):
        envs.sample({"a": 5}, seed=0)


def test_bad_environment_names_the_environment_and_node():
    with pytest.raises(cp.InterventionError, match=r"environment 'lab_c'.*unknown node\(s\) \['labb'\]"):
        cp.Environments(lab_scm(), {"lab_a": {"lab": 0}, "lab_c": {"labb": 1}})
    with pytest.raises(KeyError, match="unknown environment 'x'"):
        cp.Environments(lab_scm(), {"a": {}})["x"]
