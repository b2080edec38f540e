import pytest
import torch

import causalphys as cp

from .models import lab_scm, linear_chain


def test_linear_counterfactual_is_exact():
    scm = linear_chain()
    b = scm.sample(1000, seed=0, dtype=torch.float64)
    cf = scm.counterfactual(b, do={"y": 1.0})
    assert torch.equal(cf["x"], b["x"])  # upstream: untouched
    assert torch.all(cf["y"] == 1.0)
    # z_cf - z = -(1 - y): same unit, same noise
    torch.testing.assert_close(cf["z"] - b["z"], -(1.0 - b["y"]))


def test_counterfactual_of_the_factual_values_is_the_batch():
    scm = linear_chain()
    b = scm.sample(500, seed=1, dtype=torch.float64)
    cf = scm.counterfactual(b, do={"x": b["x"]})
    for k in b:
        torch.testing.assert_close(cf[k], b[k])


def test_non_invertible_needs_recorded_noise():
    scm = lab_scm()
    b = scm.sample(100, seed=0)
    with pytest.raises(cp.CounterfactualError, match="node 'image'.*not invertible.*return_noise=True"):
        scm.counterfactual(b, do={"scanner": 0})


def test_same_sample_seen_by_another_scanner():
    scm = lab_scm()
    b = scm.sample(2000, seed=0, return_noise=True)
    cf = scm.counterfactual(b, do={"scanner": 0})
    for k in ("lab", "phase", "label"):
        assert torch.equal(cf[k], b[k])
    # signal = 2 phase + scanner + u: the scanner's effect only, unit by unit
    torch.testing.assert_close(cf["signal"], b["signal"] - b["scanner"])
    torch.testing.assert_close(cf["image"] - b["image"], (cf["signal"] - b["signal"]).view(-1, 1, 1).expand(-1, 8, 8))
    # and it agrees with sampling the intervened model with the same seed (common random numbers)
    same = scm.do(scanner=0).sample(2000, seed=0)
    for k in b:
        torch.testing.assert_close(cf[k], same[k])


def test_noise_can_be_passed_explicitly():
    scm = lab_scm()
    b = scm.sample(50, seed=0, return_noise=True)
    noise, plain = b.noise, cp.Batch(b)
    cf = scm.counterfactual(plain, do={"phase": 1.0}, noise=noise)
    assert torch.all(cf["phase"] == 1.0)
    assert torch.equal(cf["scanner"], b["scanner"])


def test_soft_intervention_counterfactual():
    scm = linear_chain()
    b = scm.sample(100, seed=0, dtype=torch.float64)
    cf = scm.counterfactual(b, do={"y": {"shift": 2.0}})
    torch.testing.assert_close(cf["y"], b["y"] + 2.0)
    torch.testing.assert_close(cf["z"], b["z"] - 2.0)


def test_counterfactual_errors():
    scm = linear_chain()
    b = scm.sample(10, seed=0)
    with pytest.raises(cp.CounterfactualError, match=r"lacks node\(s\) \['z'\]"):
        scm.counterfactual({"x": b["x"], "y": b["y"]}, do={"y": 0.0})
    with pytest.raises(cp.CounterfactualError, match="10 units first"):
        scm.counterfactual({"x": b["x"], "y": b["y"], "z": b["z"][:5]}, do={"y": 0.0})
    with pytest.raises(cp.InterventionError, match="unknown node"):
        scm.counterfactual(b, do={"w": 0.0})
