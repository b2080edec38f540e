import pytest
import torch

import causalphys as cp


def tiny_envs():
    g = cp.CausalGraph([("e", "y"), ("y", "img")])
    scm = cp.SCM(
        g,
        {
            "e": cp.mech.Constant(0.0),
            "y": cp.mech.Function(lambda e, u: (u < 0.3 + 0.4 * e).float(), noise=cp.noise.Uniform()),
            "img": cp.mech.Function(
                lambda y, u: 5.0 + 2.0 * y.view(-1, 1, 1) + u, noise=cp.noise.Normal(shape=(4, 4)), shape=(4, 4)
            ),
        },
    )
    return cp.Environments(scm, {"a": {"e": 0.0}, "b": {"e": 1.0}})


def test_standardize_images_per_image():
    x = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(0)) * 5 + 100
    z = cp.data.standardize_images(x)
    assert z.shape == (3, 1, 8, 8)
    torch.testing.assert_close(z.mean((1, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std((1, 2, 3)), torch.ones(3), atol=1e-5, rtol=0)


def test_environment_tensors_shapes_labels_and_determinism():
    envs = tiny_envs()
    data = cp.data.environment_tensors(envs, {"a": 250, "b": 130}, seed=0, inputs="img", target="y", chunk=100)
    assert data["a"][0].shape == (250, 1, 4, 4) and data["a"][1].dtype == torch.long
    assert data["b"][0].shape == (130, 1, 4, 4)
    assert data["a"][1].float().mean().item() == pytest.approx(0.3, abs=0.1)
    assert data["b"][1].float().mean().item() == pytest.approx(0.7, abs=0.1)
    again = cp.data.environment_tensors(envs, {"a": 250, "b": 130}, seed=0, inputs="img", target="y", chunk=100)
    assert torch.equal(again["a"][0], data["a"][0])
    other = cp.data.environment_tensors(envs, {"a": 250, "b": 130}, seed=1, inputs="img", target="y", chunk=100)
    assert not torch.equal(other["a"][0], data["a"][0])


def test_environment_tensors_raw_regression_and_progress():
    seen = []
    data = cp.data.environment_tensors(
        tiny_envs(),
        20,
        seed=0,
        inputs="img",
        target="y",
        transform=None,
        classification=False,
        chunk=8,
        on_chunk=lambda env, done: seen.append((env, done)),
    )
    assert data["a"][0].shape == (20, 4, 4) and data["a"][1].dtype == torch.float32
    assert seen == [("a", 8), ("a", 16), ("a", 20), ("b", 8), ("b", 16), ("b", 20)]
    with pytest.raises(cp.CausalPhysError, match="node 'image' is not in the SCM of environment 'a'"):
        cp.data.environment_tensors(tiny_envs(), 4, seed=0)


def shaped_envs():
    """One environment with a scalar, a vector (d = 3), an image (4 x 4) and a 4-D-per-unit node."""
    g = cp.CausalGraph([("y", "s"), ("y", "v"), ("y", "img"), ("y", "stack")])
    scm = cp.SCM(
        g,
        {
            "y": cp.mech.Bernoulli(0.5),
            "s": cp.mech.Additive(lambda y: 2.0 * y, cp.noise.Normal()),
            "v": cp.mech.Additive(lambda y: y[:, None] * torch.ones(3), cp.noise.Normal(shape=3)),
            "img": cp.mech.Additive(lambda y: 5.0 + y[:, None, None] * torch.ones(4, 4), cp.noise.Normal(shape=(4, 4))),
            "stack": cp.mech.Additive(
                lambda y: y.view(-1, 1, 1, 1, 1) * torch.ones(2, 3, 4, 4), cp.noise.Normal(shape=(2, 3, 4, 4))
            ),
        },
    )
    return cp.Environments(scm, {"a": {}})


@pytest.mark.parametrize(
    "node, shape, expected",
    [("s", (1,), lambda raw: raw.unsqueeze(1)), ("v", (3,), lambda raw: raw), ("img", (1, 4, 4), None)],
)
def test_inputs_keep_their_per_unit_shape(node, shape, expected):
    envs = shaped_envs()
    x, y = cp.data.environment_tensors(envs, 50, seed=0, inputs=node, target="y", chunk=20)["a"]
    assert x.shape == (50, *shape) and y.shape == (50,)  # a vector node used to become (n, 1, n, d)
    raw = cp.data.environment_tensors(envs, 50, seed=0, inputs=node, target="y", chunk=20, transform=None)["a"][0]
    expected = expected or cp.data.standardize_images  # images: exactly the per-image standardisation of before
    assert torch.equal(x, expected(raw))


def test_scalar_and_vector_inputs_concatenate_and_other_shapes_are_named():
    envs = shaped_envs()
    x = cp.data.environment_tensors(envs, 30, seed=1, inputs=["s", "v"], target="y")["a"][0]
    parts = [cp.data.environment_tensors(envs, 30, seed=1, inputs=n, target="y")["a"][0] for n in ("s", "v")]
    assert x.shape == (30, 4) and torch.equal(x, torch.cat(parts, dim=1))
    with pytest.raises(cp.ParameterError, match=r"node 'stack' has per-unit shape \(2, 3, 4, 4\)"):
        cp.data.environment_tensors(envs, 5, seed=0, inputs="stack", target="y")
    with pytest.raises(cp.ParameterError, match=r"node 'img' has per-unit shape \(4, 4\): only scalar and vector"):
        cp.data.environment_tensors(envs, 5, seed=0, inputs=["s", "img"], target="y")
    with pytest.raises(cp.ParameterError, match="transform must be 'auto', a callable or None"):
        cp.data.environment_tensors(envs, 5, seed=0, inputs="s", target="y", transform="standardize")
