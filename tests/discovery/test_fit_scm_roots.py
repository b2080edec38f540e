"""fit_scm's root models: Gaussian by default, the observed values' own distribution with root_model="empirical"."""

import pytest
import torch

import causalphys as cp


def _frame():
    law = cp.SCM(
        [("t", "y")],
        {"t": cp.mech.Uniform(0.2, 1.0), "y": cp.mech.Additive(lambda t: 2.0 * t**1.5, noise=cp.noise.Normal(0, 0.02))},
    )
    envs = cp.Environments(law, {"thin": {}, "thick": {"t": cp.mech.Uniform(0.6, 1.6)}})
    return cp.discovery.stack_environments(envs.sample(400, seed=0, dtype=torch.float64))


def test_an_empirical_root_keeps_a_power_law_inside_its_domain():
    frame = _frame()
    graph = cp.CausalGraph([("t", "y")])
    learned = cp.discovery.fit_scm(graph, frame, "env", root_model="empirical")
    assert isinstance(learned.mechanisms["t"], cp.mech.Empirical)
    sample = learned.sample(5000, seed=1, dtype=torch.float64)
    assert float(sample["t"].min()) >= float(frame["t"].min()) and float(sample["t"].max()) <= float(frame["t"].max())
    # the Gaussian root reaches t <= 0, where the learned power law is undefined: refused by name, not NaN
    gaussian = cp.discovery.fit_scm(graph, frame, "env")
    assert isinstance(gaussian.mechanisms["t"], cp.mech.Normal)
    with pytest.raises(cp.CausalPhysError, match=r"needs t > 0"):
        gaussian.sample(5000, seed=1, dtype=torch.float64)
    with pytest.raises(cp.ParameterError, match=r"root_model must be one of \['normal', 'empirical'\], got 'kde'"):
        cp.discovery.fit_scm(graph, frame, "env", root_model="kde")
