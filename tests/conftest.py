import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture
def random_mnist(tmp_path):
    """An ``mnist.npz`` of 120 random 28x28 uint8 'digits' with random classes (shapes only, no structure)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (120, 28, 28), dtype=np.uint8)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x, y_train=rng.integers(0, 10, 120, dtype=np.uint8), x_test=x[:1], y_test=np.zeros(1))
    return path
