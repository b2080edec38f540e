import pytest
import torch

from causalphys.nets import MLP, SmallCNN, reinitialize
from causalphys.nets.init import InitError


def _weights(net):
    return [p.detach().clone() for p in net.parameters()]


def _same(a, b):
    return all(torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("make", [lambda: MLP(6, 3, hidden=(8, 8)), lambda: SmallCNN(1, 3, width=8)])
def test_same_seed_same_weights_whatever_the_global_rng(make):
    torch.manual_seed(1)
    a = make()
    torch.manual_seed(2)
    b = make()
    assert not _same(_weights(a), _weights(b))
    state = torch.get_rng_state()
    reinitialize(a, 7)
    reinitialize(b, 7)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is untouched
    assert _same(_weights(a), _weights(b))
    assert not _same(_weights(a), _weights(reinitialize(make(), 8)))


def test_the_nets_own_init_scheme_is_used():
    net = reinitialize(MLP(4, 2, hidden=(8,), init="xavier"), 0)
    assert all(torch.count_nonzero(m.bias) == 0 for m in net.modules() if isinstance(m, torch.nn.Linear))


def test_parameters_without_reset_parameters_are_named_and_nothing_changes():
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)
            self.scale = torch.nn.Parameter(torch.ones(2))

    net = Scaled()
    before = _weights(net)
    with pytest.raises(InitError, match=r"\['scale'\]"):
        reinitialize(net, 0)
    assert _same(before, _weights(net))
