import pytest
import torch

import causalphys as cp

from .models import lab_scm, linear_chain


def test_one_tensor_per_node_batch_first_any_shape():
    b = lab_scm().sample(100, seed=0)
    assert isinstance(b, dict) and b.n == 100
    assert {k: tuple(v.shape) for k, v in b.items()} == {
        "lab": (100,),
        "scanner": (100,),
        "phase": (100,),
        "label": (100,),
        "signal": (100,),
        "image": (100, 8, 8),
    }
    assert all(v.dtype == torch.float32 for v in b.values())
    assert b.noise is None


def test_same_seed_same_tensors_other_seed_other_tensors():
    scm = lab_scm()
    a, b, c = scm.sample(64, seed=3), scm.sample(64, seed=3), scm.sample(64, seed=4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["image"], c["image"])


def test_dtype_device_and_recorded_noise():
    b = lab_scm().sample(10, seed=0, dtype=torch.float64, device="cpu", return_noise=True)
    assert b["signal"].dtype == torch.float64
    assert set(b.noise) == set(b)  # every node of this SCM has noise
    assert b.noise["image"].shape == (10, 8, 8)
    # the recorded noise is the noise that was used
    torch.testing.assert_close(b["image"], b["signal"].view(-1, 1, 1) + b.noise["image"])


def test_the_model_means_what_it_says():
    b = linear_chain().sample(200_000, seed=0, dtype=torch.float64)
    assert b["y"].var().item() == pytest.approx(5.0, rel=0.02)
    assert b["z"].var().item() == pytest.approx(3.5, rel=0.02)
    cov = torch.cov(torch.stack([b["x"], b["y"]]))
    assert cov[0, 1].item() == pytest.approx(2.0, rel=0.02)


def test_lab_confounding_is_visible_in_samples():
    b = lab_scm().sample(50_000, seed=0)
    same = (b["scanner"] == b["label"]).float().mean().item()
    assert 0.55 < same < 0.7  # the scanner predicts the label without causing it


def test_batch_to_dataframe_scalar_only():
    b = linear_chain().sample(5, seed=0)
    df = b.to_dataframe()
    assert list(df.columns) == ["x", "y", "z"] and len(df) == 5
    with pytest.raises(cp.CausalPhysError, match="image"):
        lab_scm().sample(5, seed=0).to_dataframe()


# -- errors ------------------------------------------------------------------------------------------------------
def test_node_without_mechanism():
    with pytest.raises(cp.MechanismError, match=r"no mechanism for node\(s\) \['y'\]"):
        cp.SCM([("x", "y")], {"x": cp.mech.Normal()})


def test_mechanism_for_unknown_node():
    with pytest.raises(cp.MechanismError, match=r"\['w'\], which are not nodes"):
        cp.SCM([("x", "y")], {"x": cp.mech.Normal(), "y": cp.mech.Normal(), "w": cp.mech.Normal()})


def test_mechanism_arguments_must_match_parents():
    with pytest.raises(cp.MechanismError, match=r"mechanism of node 'y'.*takes \['q'\], which is not a parent"):
        cp.SCM([("x", "y")], {"x": cp.mech.Normal(), "y": cp.mech.Additive(lambda q: q)})
    with pytest.raises(cp.MechanismError, match=r"node 'y' has parent\(s\) \['x'\] that its mechanism"):
        cp.SCM([("x", "y")], {"x": cp.mech.Normal(), "y": cp.mech.Normal()})
    with pytest.raises(cp.MechanismError, match="needs at least one parent"):
        cp.SCM(cp.CausalGraph(nodes=["x"]), {"x": cp.mech.MLPMechanism()})


def test_not_a_mechanism():
    with pytest.raises(cp.MechanismError, match="node 'x' must be a causalphys Mechanism"):
        cp.SCM(cp.CausalGraph(nodes=["x"]), {"x": lambda: 1.0})


def make(f, shape=None, noise=None):
    return cp.SCM([("x", "y")], {"x": cp.mech.Normal(), "y": cp.mech.Function(f, noise=noise, shape=shape)})


def test_wrong_batch_size_names_node():
    with pytest.raises(cp.MechanismError, match=r"node 'y' returned shape \(3,\); expected the batch size 10") as e:
        make(lambda x: x[:3]).sample(10, seed=0)
    assert e.value.node == "y"


def test_wrong_declared_shape_names_node():
    with pytest.raises(cp.MechanismError, match=r"node 'y' returned shape \(10, 4\); expected \(10, 2\)"):
        make(lambda x: x.view(-1, 1).expand(-1, 4), shape=(2,)).sample(10, seed=0)


def test_non_tensor_output_names_node():
    with pytest.raises(cp.MechanismError, match="node 'y' returned float"):
        make(lambda x: 1.0).sample(10, seed=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_and_inf_name_the_node(bad):
    def f(x):
        out = x.clone()
        out[4] = bad
        return out

    with pytest.raises(cp.MechanismError, match=r"node 'y' produced NaN or inf for 1 of 10 units \(first at unit 4\)"):
        make(f).sample(10, seed=0)


def test_exceptions_inside_a_mechanism_name_the_node():
    with pytest.raises(cp.MechanismError, match=r"mechanism of node 'y'.*failed.*ZeroDivisionError"):
        make(lambda x: 1 / 0).sample(10, seed=0)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_sample_size(n):
    with pytest.raises(cp.ParameterError, match="positive int"):
        linear_chain().sample(n, seed=0)


def test_sampling_a_subset_of_nodes_gives_the_same_values():
    scm = lab_scm()
    full, part = scm.sample(50, seed=2), scm.sample(50, seed=2, nodes=["signal"])
    assert set(part) == {"lab", "scanner", "phase", "signal"}  # the node and its ancestors
    assert all(torch.equal(part[k], full[k]) for k in part)
    with pytest.raises(cp.MechanismError, match=r"unknown node\(s\) \['signl'\]"):
        scm.sample(5, seed=0, nodes=["signl"])
