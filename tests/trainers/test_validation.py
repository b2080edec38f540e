import pytest
import torch

from causalphys.errors import CausalPhysError, ParameterError
from causalphys.nets import MLP
from causalphys.trainers import ERM, DataError, DataTypeError, NetError

from .data import regression, separable


class TwoEnvERM(ERM):
    min_envs = 2


def _fit(envs, task="classification", net=None, trainer=ERM):
    return trainer(steps=1, batch_size=4, task=task, progress=False).fit(net or MLP(5, 2, hidden=(4,)), envs)


def _edit(envs, name, x=None, y=None):
    envs = dict(envs)
    old_x, old_y = envs[name]
    envs[name] = (old_x if x is None else x, old_y if y is None else y)
    return envs


def _nan(t, value=float("nan")):
    t = t.clone()
    t.view(-1)[3] = value
    return t


ENVS = separable(n=10)
X1, Y1 = ENVS["env1"]


@pytest.mark.parametrize(
    "envs, error, message",
    [
        ({}, DataError, "needs at least one training environment, got 0"),
        ([("env0", ENVS["env0"])], DataTypeError, "must map environment names"),
        (
            _edit(ENVS, "env1", x=X1[:, :4]),
            DataError,
            r"environment 'env1': x has per-sample shape \(4,\) but "
            r"environment 'env0' has \(5,\)",
        ),
        (_edit(ENVS, "env1", x=_nan(X1)), DataError, r"environment 'env1': x contains 1 NaN"),
        (_edit(ENVS, "env1", x=_nan(X1, float("inf"))), DataError, r"environment 'env1': x contains 1 infinite"),
        (_edit(ENVS, "env1", y=Y1 + 1), DataError, r"environment 'env1': class label 2 is outside \[0, 2\)"),
        (_edit(ENVS, "env0", y=Y1 - 1), DataError, r"environment 'env0': class label -1 is outside"),
        (_edit(ENVS, "env1", y=Y1[:7]), DataError, r"environment 'env1': y has 7 entries but x has 10 samples"),
        (
            _edit(ENVS, "env1", y=Y1.float()),
            DataTypeError,
            r"environment 'env1': classification labels y must be an "
            "integer",
        ),
        (_edit(ENVS, "env1", y=Y1[:, None]), DataError, r"environment 'env1': classification labels y must have shape"),
        (_edit(ENVS, "env1", x=X1.numpy()), DataTypeError, r"environment 'env1': x must be a torch.Tensor"),
        (_edit(ENVS, "env1", x=(X1 > 0).long()), DataTypeError, r"environment 'env1': x must be a floating tensor"),
        ({"env0": ENVS["env0"], "env1": X1}, DataTypeError, r"environment 'env1': expected a pair \(x, y\)"),
        ({"env0": (X1[:0], Y1[:0])}, DataError, "environment 'env0' has no samples"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_classification_input_names_the_environment_and_problem(envs, error, message):
    with pytest.raises(error, match=message) as info:
        _fit(envs)
    assert isinstance(info.value, CausalPhysError) and isinstance(info.value, ValueError)


def test_a_method_that_needs_two_environments_refuses_one():
    with pytest.raises(DataError, match=r"TwoEnvERM needs at least 2 training environments, got 1: \['env0'\]"):
        _fit({"env0": ENVS["env0"]}, trainer=TwoEnvERM)
    _fit(ENVS, trainer=TwoEnvERM)


def test_bad_regression_input():
    envs = regression(d=5)
    x, y = envs["env1"]
    with pytest.raises(DataError, match=r"environment 'env1': y contains 1 infinite"):
        _fit(_edit(envs, "env1", y=_nan(y, float("inf"))), "regression", MLP(5, 1))
    with pytest.raises(DataTypeError, match=r"environment 'env1': regression targets y must be a floating"):
        _fit(_edit(envs, "env1", y=y.long()), "regression", MLP(5, 1))
    with pytest.raises(DataError, match=r"environment 'env0': regression targets have 1 column\(s\) but the net has 2"):
        _fit(envs, "regression", MLP(5, 2))


def test_a_net_that_does_not_fit_the_data_or_the_contract():
    with pytest.raises(NetError, match=r"MLP cannot process x of environment 'env0' \(per-sample shape \(5,\)\)"):
        _fit(ENVS, net=MLP(6, 2))
    with pytest.raises(NetError, match=r"Sequential has no features\(\)"):
        _fit(ENVS, net=torch.nn.Sequential(torch.nn.Linear(5, 2)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": 0}, "ERM lr must be a positive finite number"),
        ({"weight_decay": -1e-3}, "ERM weight_decay must be"),
        ({"batch_size": 0}, "ERM batch_size must be a positive integer or null"),
        ({"steps": 2.5}, "ERM steps must be a non-negative integer"),
        ({"task": "ranking"}, r"ERM task must be one of \['classification', 'regression', 'dense'\]"),
        ({"seed": 1.5}, "ERM seed must be an int"),
        ({"device": "abacus"}, "ERM device 'abacus' is not a torch device"),
        ({"checkpoint_every": 5}, "ERM checkpoint_every=5 needs a checkpoint_dir"),
        ({"progress": "yes"}, "ERM progress must be true or false"),
    ],
)
def test_bad_hyper_parameters_name_the_key(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        ERM(**kwargs)
