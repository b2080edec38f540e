import pytest
import torch

import causalphys as cp

from .models import lab_scm, linear_chain

N = 200_000


def moments(scm, node, seed=0):
    x = scm.sample(N, seed=seed, dtype=torch.float64)[node]
    return x.mean().item(), x.var().item()


def test_hard_do_linear_gaussian_analytic():
    # z = -y + 0.5x + e, Var(e) = 0.25; under do(y := 1): E z = -1, Var z = 0.25 * Var x + 0.25 = 0.5
    mean, var = moments(linear_chain().do(y=1.0), "z")
    assert mean == pytest.approx(-1.0, abs=0.01)
    assert var == pytest.approx(0.5, rel=0.02)
    # under do(x := 2): E y = 4, E z = -4 + 1 = -3, Var z = Var(-e_y + e_z) = 1.25
    mean, var = moments(linear_chain().do({"x": 2.0}), "z")
    assert mean == pytest.approx(-3.0, abs=0.01)
    assert var == pytest.approx(1.25, rel=0.02)


def test_do_returns_a_new_scm_and_cuts_incoming_edges():
    scm = linear_chain()
    new = scm.do(y=1.0)
    assert new is not scm
    assert new.graph.parents("y") == () and scm.graph.parents("y") == ("x",)
    assert isinstance(scm.mechanisms["y"], cp.mech.Linear)
    assert torch.all(new.sample(10, seed=0)["y"] == 1.0)


def test_do_one_value_per_unit():
    values = torch.arange(6.0)
    b = linear_chain().do(y=values).sample(6, seed=0)
    assert torch.equal(b["y"], values)
    with pytest.raises(cp.MechanismError, match="node 'y'.*per-unit value needs first dimension 4"):
        linear_chain().intervene(y=cp.Do(values, per_unit=True)).sample(4, seed=0)


def test_do_on_image_node_broadcasts_a_tensor():
    img = torch.ones(8, 8)
    b = lab_scm().do(image=img).sample(3, seed=0)
    assert b["image"].shape == (3, 8, 8) and torch.all(b["image"] == 1)


def test_common_random_numbers_untouched_nodes_keep_their_noise():
    scm = linear_chain()
    a, b = scm.sample(100, seed=7), scm.do(y=0.0).sample(100, seed=7)
    assert torch.equal(a["x"], b["x"])


@pytest.mark.parametrize(
    "spec, mean, var",
    [
        ({"shift": 3.0}, 3.0, 5.0),
        ({"scale": 2.0}, 0.0, 20.0),
        (cp.noise.Normal(0.0, 3.0), 0.0, 13.0),
        ([{"scale": 2.0}, {"shift": 1.0}], 1.0, 20.0),
        ([cp.Scale(2.0), cp.Shift(1.0), cp.Shift(-1.0)], 0.0, 20.0),
        (cp.mech.Linear({"x": -1.0}, bias=1.0), 1.0, 2.0),
        (cp.mech.Normal(5.0, 2.0), 5.0, 4.0),
        ({"do": 4.0}, 4.0, 0.0),
    ],
)
def test_soft_interventions_on_y(spec, mean, var):
    m, v = moments(linear_chain().intervene(y=spec), "y")
    assert m == pytest.approx(mean, abs=0.02)
    assert v == pytest.approx(var, rel=0.02, abs=1e-12)


def test_replacing_with_fewer_parents_cuts_edges():
    new = linear_chain().intervene(z={"mechanism": cp.mech.Linear({"y": 1.0})})
    assert new.graph.parents("z") == ("y",)
    assert new.graph.is_d_separated("x", "z", given="y")


def test_composed_interventions_on_several_nodes():
    scm = linear_chain().intervene({"x": 1.0}, y={"shift": 1.0})
    mean, var = moments(scm, "z")
    # y = 2 + 1 + e_y; z = -y + 0.5 + e_z -> E z = -2.5, Var z = 1 + 0.25
    assert mean == pytest.approx(-2.5, abs=0.01)
    assert var == pytest.approx(1.25, rel=0.02)


def test_interventions_as_plain_data_from_a_config():
    spec = {"y": {"do": [1.0, 2.0, 3.0], "per_unit": True}, "z": [{"scale": 0.5}]}
    b = linear_chain().intervene(spec).sample(3, seed=0)
    assert torch.equal(b["y"], torch.tensor([1.0, 2.0, 3.0]))


def test_intervention_errors_name_the_node():
    scm = linear_chain()
    with pytest.raises(cp.InterventionError, match=r"unknown node\(s\) \['scanner'\]"):
        scm.do(scanner=1)
    with pytest.raises(cp.InterventionError, match="node 'y' must have exactly one of the keys"):
        scm.intervene(y={"shift": 1, "scale": 2})
    with pytest.raises(cp.InterventionError, match="cannot read the intervention on node 'y'"):
        scm.intervene(y="high")
    with pytest.raises(cp.InterventionError, match="do\\(\\) takes values"):
        scm.do(y=cp.mech.Normal())
    with pytest.raises(cp.InterventionError, match="node 'y'.*non-zero"):
        scm.intervene(y={"scale": 0})
    with pytest.raises(cp.InterventionError, match="node 'x'.*finite"):
        scm.do(x=float("nan"))
    with pytest.raises(cp.MechanismError, match="node 'z'"):
        scm.intervene(z=cp.mech.Linear({"w": 1.0}))
    det = cp.SCM([("x", "y")], {"x": cp.mech.Normal(), "y": cp.mech.Additive(lambda x: x)})
    with pytest.raises(cp.InterventionError, match="node 'y'.*deterministic"):
        det.intervene(y=cp.noise.Normal())


def test_do_with_a_number_fills_a_shaped_node():
    scm = lab_scm()
    b = scm.do(image=0.5).sample(3, seed=0)
    assert b["image"].shape == (3, 8, 8) and torch.all(b["image"] == 0.5)
    per_unit = scm.do(image=torch.tensor([1.0, 2.0, 3.0])).sample(3, seed=0)
    assert torch.equal(per_unit["image"][:, 4, 4], torch.tensor([1.0, 2.0, 3.0]))
    message = r"shape \(5,\) fits neither the node's shape \(8, 8\).*nor the batch of 3 units"
    with pytest.raises(cp.MechanismError, match=message):
        scm.do(image=torch.ones(5)).sample(3, seed=0)
