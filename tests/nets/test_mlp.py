import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.nets import MLP


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64)])
def test_mlp_flattens_images_and_exposes_features_and_head(shape):
    net = MLP(shape, n_outputs=10)
    x = torch.randn(4, *shape)
    z = net.features(x)
    assert net.in_features == torch.Size(shape).numel()
    assert z.shape == (4, net.n_features) == (4, 256)
    assert net.head(z).shape == (4, 10)
    assert torch.equal(net(x), net.head(z))


def test_mlp_widths_dropout_and_no_hidden_layer():
    net = MLP(5, n_outputs=3, hidden=(7, 11), dropout=0.25)
    assert net.n_features == 11 and net(torch.randn(2, 5)).shape == (2, 3)
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 2
    assert not any(isinstance(m, torch.nn.Dropout) for m in MLP(5, 3).modules())
    linear = MLP(5, n_outputs=2, hidden=())
    assert linear.n_features == 5 and linear.features(torch.ones(2, 5)).shape == (2, 5)


def test_xavier_init_zeroes_the_biases():
    net = MLP(4, n_outputs=2, hidden=(8,), init="xavier")
    biases = [m.bias for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(biases) == 2 and all(torch.count_nonzero(b) == 0 for b in biases)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"in_features": 0, "n_outputs": 2}, "in_features"),
        ({"in_features": (2, 0), "n_outputs": 2}, "in_features"),
        ({"in_features": 3, "n_outputs": 0}, "n_outputs"),
        ({"in_features": 3, "n_outputs": 2, "hidden": (4, -1)}, "hidden width"),
        ({"in_features": 3, "n_outputs": 2, "dropout": 1.0}, "dropout"),
        ({"in_features": 3, "n_outputs": 2, "init": "he"}, "init"),
    ],
)
def test_bad_mlp_settings_name_the_key(kwargs, key):
    with pytest.raises(ParameterError, match=f"MLP {key}"):
        MLP(**kwargs)
