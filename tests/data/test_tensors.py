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
