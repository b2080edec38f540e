import numpy as np
import pytest
import torch
from dowhy import gcm

import causalphys as cp

from .models import linear_chain


def confounded():
    """c -> t, c -> y, t -> y: effect of t on y is 3; the naive regression slope is 3 + 2·Cov(c,t)/Var(t) = 4."""
    g = cp.CausalGraph([("c", "t"), ("c", "y"), ("t", "y")])
    return cp.SCM(
        g,
        {
            "c": cp.mech.Normal(),
            "t": cp.mech.Linear({"c": 1.0}),
            "y": cp.mech.Linear({"t": 3.0, "c": 2.0}),
        },
    )


def test_backdoor_adjustment_recovers_the_true_effect():
    scm = confounded()
    estimand = cp.identify_effect(scm, "t", "y")
    assert estimand.get_backdoor_variables() == ["c"]
    estimate = cp.estimate_effect(scm, "t", "y", n=20_000, seed=0)
    assert estimate.value == pytest.approx(3.0, abs=0.05)
    b = scm.sample(20_000, seed=0, dtype=torch.float64)
    naive = torch.cov(torch.stack([b["t"], b["y"]]))
    assert (naive[0, 1] / naive[0, 0]).item() == pytest.approx(4.0, abs=0.1)


def test_frontdoor_with_a_latent_confounder():
    g = cp.CausalGraph([("u", "x"), ("u", "y"), ("x", "m"), ("m", "y")])
    scm = cp.SCM(
        g,
        {
            "u": cp.mech.Normal(),
            "x": cp.mech.Linear({"u": 1.0}),
            "m": cp.mech.Linear({"x": 2.0}),
            "y": cp.mech.Linear({"m": 1.5, "u": 1.0}),
        },
    )
    estimand = cp.identify_effect(scm, "x", "y", observed=["x", "m", "y"])
    assert estimand.get_frontdoor_variables() == ["m"]
    assert estimand.get_backdoor_variables() == []
    est = cp.estimate_effect(scm, "x", "y", observed=["x", "m", "y"], method="frontdoor.two_stage_regression", n=20_000)
    assert est.value == pytest.approx(3.0, abs=0.1)


def test_instrumental_variable():
    g = cp.CausalGraph([("z", "x"), ("u", "x"), ("u", "y"), ("x", "y")])
    scm = cp.SCM(
        g,
        {
            "z": cp.mech.Normal(),
            "u": cp.mech.Normal(),
            "x": cp.mech.Linear({"z": 1.0, "u": 1.0}),
            "y": cp.mech.Linear({"x": 2.0, "u": 3.0}),
        },
    )
    estimand = cp.identify_effect(scm, "x", "y", observed=["z", "x", "y"])
    assert estimand.get_instrumental_variables() == ["z"]
    est = cp.estimate_effect(scm, "x", "y", observed=["z", "x", "y"], method="iv.instrumental_variable", n=20_000)
    assert est.value == pytest.approx(2.0, abs=0.1)


def test_bridge_errors():
    with pytest.raises(cp.GraphError, match="treatment 'q' is not a node"):
        cp.identify_effect(confounded(), "q", "y")
    with pytest.raises(cp.GraphError, match="the outcome 'y' must be observed"):
        cp.identify_effect(confounded(), "t", "y", observed=["t", "c"])


def test_interventional_means_agree_with_dowhy_gcm():
    scm = linear_chain()
    fitted = cp.to_gcm(scm, n=5_000, seed=0)
    np.random.seed(0)  # noqa: NPY002 -- DoWhy draws from numpy's global generator
    theirs = gcm.interventional_samples(fitted, {"y": lambda y: 1.0}, num_samples_to_draw=50_000)
    ours = scm.do(y=1.0).sample(50_000, seed=0, dtype=torch.float64)
    assert theirs["z"].mean() == pytest.approx(ours["z"].mean().item(), abs=0.03)
    assert theirs["z"].mean() == pytest.approx(-1.0, abs=0.03)


def test_from_gcm_samples_intervenes_and_counterfactuals():
    fitted = cp.to_gcm(linear_chain(), n=5_000, seed=0)
    scm = cp.from_gcm(fitted)
    assert set(scm.graph.edges) == {("x", "y"), ("y", "z"), ("x", "z")}
    a, b = scm.sample(2_000, seed=1), scm.sample(2_000, seed=1)
    assert torch.equal(a["z"], b["z"])  # our seed drives DoWhy's draws
    assert a["y"].var().item() == pytest.approx(5.0, rel=0.1)
    assert scm.do(y=1.0).sample(20_000, seed=2)["z"].mean().item() == pytest.approx(-1.0, abs=0.05)
    cf = scm.counterfactual(a, do={"y": 0.0})
    torch.testing.assert_close(cf["z"] - a["z"], a["y"], rtol=0.05, atol=0.05)


def test_to_gcm_refuses_image_nodes():
    g = cp.CausalGraph([("x", "img")])
    scm = cp.SCM(
        g,
        {
            "x": cp.mech.Normal(),
            "img": cp.mech.Function(lambda x, u: x.view(-1, 1) + u, noise=cp.noise.Normal(shape=4)),
        },
    )
    with pytest.raises(cp.CausalPhysError, match=r"only scalar nodes.*'img': \(4,\)"):
        cp.to_gcm(scm, n=100)


def test_to_gcm_fits_a_graph_to_data_in_one_process_and_restores_dowhy_config():
    from dowhy.gcm import config

    scm = linear_chain()
    data = scm.sample(500, seed=0, dtype=torch.float64).to_dataframe()
    before = config.default_n_jobs
    fitted = cp.to_gcm(scm.graph, data, seed=0, n_jobs=1)
    assert config.default_n_jobs == before
    assert set(fitted.graph.edges) == set(scm.graph.edges)
    with pytest.raises(cp.CausalPhysError, match="needs data"):
        cp.to_gcm(scm.graph)
