import numpy as np
import pytest
import torch

import causalphys as cp
from causalphys.data.colored_mnist import ENVIRONMENTS, ColoredMNISTBenchmark, colored_mnist_environments, load_mnist


@pytest.fixture
def fake_mnist(tmp_path):
    """600 fake 28x28 'digits': image k holds the value 1 + k % 250 in a square whose place encodes the class."""
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 10, 600).astype(np.uint8)
    images = np.zeros((600, 28, 28), dtype=np.uint8)
    for k, d in enumerate(digits):
        images[k, 2 * d : 2 * d + 4, 4:12] = 1 + k % 250
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=images, y_train=digits, x_test=images[:10], y_test=digits[:10])
    return path


def test_load_mnist_from_a_path_or_the_environment(fake_mnist, monkeypatch):
    images, digits = load_mnist(fake_mnist)
    assert images.shape == (600, 28, 28) and images.dtype == torch.uint8 and digits.dtype == torch.long
    monkeypatch.setenv("CAUSALPHYS_MNIST", str(fake_mnist))
    assert torch.equal(load_mnist()[0], images)
    monkeypatch.delenv("CAUSALPHYS_MNIST")
    with pytest.raises(cp.CausalPhysError, match="no MNIST path"):
        load_mnist()
    with pytest.raises(cp.CausalPhysError, match="not found"):
        load_mnist(fake_mnist.parent / "nope.npz")
    bad = fake_mnist.parent / "bad.npz"
    np.savez(bad, x_test=np.zeros((2, 28, 28)))
    with pytest.raises(cp.CausalPhysError, match=r"lacks the array\(s\) \['x_train', 'y_train'\]"):
        load_mnist(bad)


def test_environments_follow_the_paper(fake_mnist):
    images, digits = load_mnist(fake_mnist)
    envs = colored_mnist_environments(images, digits, seed=0)
    assert {k: tuple(v[0].shape) for k, v in envs.items()} == {
        "train_0.2": (250, 2, 14, 14),
        "train_0.1": (250, 2, 14, 14),
        "test_0.9": (100, 2, 14, 14),
    }
    for name, (x, y) in envs.items():
        assert set(y.unique().tolist()) <= {0, 1}
        colour = (x[:, 1].sum((1, 2)) > 0).long()  # the digit sits in channel `colour`
        assert torch.all((x[:, 0].sum((1, 2)) > 0) != (colour == 1))  # exactly one channel is lit
        agreement = (colour == y).float().mean().item()
        assert agreement == pytest.approx(1 - ENVIRONMENTS[name], abs=0.1)
        assert x.max() <= 1.0 and x.min() >= 0.0
    # every training image is used exactly once: image k carries the value 1 + k % 250 in its square
    values = torch.cat([envs["train_0.2"][0], envs["train_0.1"][0]]).amax((1, 2, 3)) * 255
    counts = torch.bincount(values.round().long(), minlength=251)[1:]
    assert torch.equal(counts, torch.full((250,), 2))  # 500 images, each value twice (k and k + 250)


def test_same_seed_same_environments_and_grayscale(fake_mnist):
    images, digits = load_mnist(fake_mnist)
    a = colored_mnist_environments(images, digits, seed=3)
    b = colored_mnist_environments(images, digits, seed=3)
    c = colored_mnist_environments(images, digits, seed=4)
    assert all(torch.equal(a[k][0], b[k][0]) and torch.equal(a[k][1], b[k][1]) for k in a)
    assert not torch.equal(a["train_0.2"][1], c["train_0.2"][1])
    grey = colored_mnist_environments(images, digits, seed=3, grayscale=True)
    x = grey["test_0.9"][0]
    assert x.shape == (100, 1, 14, 14)
    torch.testing.assert_close(x[:, 0], a["test_0.9"][0].sum(1))


def test_label_is_the_digit_class_flipped_a_quarter_of_the_time():
    digits = torch.arange(12_000) % 10
    images = torch.zeros(12_000, 28, 28, dtype=torch.uint8)
    envs = colored_mnist_environments(images, digits, seed=0)
    order = torch.randperm(10_000, generator=cp.seeding.make_generator(cp.derive_seed(0, "colored_mnist", "shuffle")))
    for name, index in (
        ("train_0.2", order[0::2]),
        ("train_0.1", order[1::2]),
        ("test_0.9", torch.arange(10_000, 12_000)),
    ):
        clean = (digits[index] < 5).long()
        flipped = (envs[name][1] != clean).float().mean().item()
        assert flipped == pytest.approx(0.25, abs=0.03), name


def test_colored_mnist_benchmark_from_a_fake_mnist(random_mnist):
    path = random_mnist
    data = ColoredMNISTBenchmark(str(path), val_fraction=0.2).load(0)
    assert data.train["train_0.2"][0].shape == (40, 2, 14, 14) and data.val["train_0.1"][0].shape == (10, 2, 14, 14)
    assert list(data.test) == ["test_0.9"]
    red, green = data.counterfactual["train_0.2"]
    assert torch.equal(red.sum(1), green.sum(1)) and (red[:, 1] == 0).all() and (green[:, 0] == 0).all()
    grey = ColoredMNISTBenchmark(str(path), grayscale=True).load(0)
    assert grey.input_shape == (1, 14, 14) and grey.counterfactual == {}
