import numpy as np
import pytest
import torch

import causalphys as cp
from causalphys.discovery import PowerLaw, SymbolicMechanism, fit_scm

from .models import GRAPH, frame


@pytest.fixture(scope="module")
def scm():
    return fit_scm(GRAPH, frame(seed=1, n=300), "env", learner=cp.discovery.MechanismLearner(top=2))


def test_every_node_gets_a_mechanism_that_prints_its_formula(scm):
    assert isinstance(scm.mechanisms["y"], SymbolicMechanism)
    assert isinstance(scm.mechanisms["a"], cp.mech.Normal) and isinstance(scm.mechanisms["p"], cp.mech.Normal)
    text = repr(scm.mechanisms["y"])
    assert text.startswith("SymbolicMechanism(y = ") and "b*m" in text and "exp(b)" in text
    assert "a**2" in repr(scm.mechanisms["m"])
    assert "u ~ Normal(mean=0.0, std=" in str(scm.mechanisms["m"])
    sigma = scm.mechanisms["m"].noise.std
    assert 0.25 < sigma < 0.35  # m's noise is N(0, 0.3²)
    assert scm.mechanisms["y"].invariance.accepted


def test_the_fitted_scm_samples_and_takes_a_do_intervention(scm):
    batch = scm.sample(500, seed=0)
    assert set(batch) == set(GRAPH.nodes) and batch["y"].shape == (500,)
    again = scm.sample(500, seed=0)
    assert torch.equal(batch["y"], again["y"])
    done = scm.do(b=2.0).sample(500, seed=0)
    assert torch.all(done["b"] == 2.0)
    assert torch.equal(done["m"], batch["m"])  # m is not downstream of b: same noise, same values
    assert not torch.allclose(done["y"], batch["y"])


def test_counterfactuals_go_through_the_additive_noise(scm):
    batch = scm.sample(200, seed=3, dtype=torch.float64)
    cf = scm.counterfactual(batch, {"b": 2.0})
    eq = scm.mechanisms["y"].equation
    m = batch["m"].numpy()
    shift = eq.predict({"m": m, "b": np.full(200, 2.0)}) - eq.predict({"m": m, "b": batch["b"].numpy()})
    np.testing.assert_allclose((cf["y"] - batch["y"]).numpy(), shift, atol=1e-9)
    np.testing.assert_allclose(cf["m"].numpy(), m)


def test_a_node_missing_from_the_data_is_named():
    graph = cp.CausalGraph([("h", "y"), ("m", "y")])
    with pytest.raises(cp.ParameterError, match=r"lack node\(s\) \['h'\]"):
        fit_scm(graph, frame(seed=0, n=50), "env")


def test_symbolic_mechanism_checks_its_equation():
    law = PowerLaw("y", ["x"])
    with pytest.raises(cp.MechanismError, match="not fitted"):
        SymbolicMechanism(law)
    law.fit({"x": np.linspace(1, 2, 20)}, np.linspace(1, 2, 20) ** 2)
    with pytest.raises(cp.MechanismError, match=r"uses \['x'\], which are not among the parents \['z'\]"):
        SymbolicMechanism(law, parents=["z"])
    mech = SymbolicMechanism(law, parents=["x", "z"])  # a parent the equation does not use is accepted
    assert mech.parent_names() == {"x", "z"} and mech.required_parent_names() == {"x"}
    out = mech.evaluate(
        {"x": torch.tensor([1.0, 2.0]), "z": torch.zeros(2)}, None, n=2, device="cpu", dtype=torch.float32
    )
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([1.0, 4.0]), atol=1e-4, rtol=0)
