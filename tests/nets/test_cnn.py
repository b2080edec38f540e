import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.nets import SmallCNN


@pytest.mark.parametrize("channels, size", [(2, 28), (1, 64)])
def test_small_cnn_shapes_for_28_and_64_pixel_images(channels, size):
    net = SmallCNN(in_channels=channels, n_outputs=10)
    x = torch.randn(3, channels, size, size)
    z = net.features(x)
    assert z.shape == (3, net.n_features) == (3, 128)
    assert net.head(z).shape == (3, 10)
    assert torch.equal(net(x), net.head(z))


def test_small_cnn_is_domainbeds_mnist_cnn_scaled_by_width():
    net = SmallCNN(in_channels=2, n_outputs=2, width=16)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in net.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert [c.out_channels for c in convs] == [16, 32, 32, 32]
    assert [c.stride for c in convs] == [(1, 1), (2, 2), (1, 1), (1, 1)]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert [n.num_groups for n in norms] == [8, 8, 8, 8]
    assert net.n_features == 32
    default = [m.out_channels for m in SmallCNN(1, 2).modules() if isinstance(m, torch.nn.Conv2d)]
    assert default == [64, 128, 128, 128]


def test_a_narrower_feature_block_projects_the_pooled_map():
    torch.manual_seed(0)
    plain = SmallCNN(1, 2, width=16)
    torch.manual_seed(0)
    narrow = SmallCNN(1, 2, width=16, features=4)
    x = torch.randn(5, 1, 32, 32)
    assert narrow.n_features == 4 and narrow.features(x).shape == (5, 4) and narrow(x).shape == (5, 2)
    last = narrow.body[-1]
    assert isinstance(last, torch.nn.Linear) and (last.in_features, last.out_features) == (32, 4)
    # the convolutions are drawn first, so the same seed gives the same convolutions; the projection follows them
    torch.testing.assert_close(narrow.features(x), last(plain.features(x)))


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"in_channels": 0, "n_outputs": 2}, "in_channels"),
        ({"in_channels": 1, "n_outputs": 2, "width": 12}, "width"),
        ({"in_channels": 1, "n_outputs": 2, "features": 0}, "features"),
    ],
)
def test_bad_cnn_settings_name_the_key(kwargs, key):
    with pytest.raises(ParameterError, match=f"SmallCNN {key}"):
        SmallCNN(**kwargs)
