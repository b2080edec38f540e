"""A multilayer perceptron that flattens its input."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.nets.base import FeatureNet

_INITS = ("torch", "xavier")


class MLP(FeatureNet):
    """``features(x) = relu(W_L ... relu(W_1 flatten(x) + b_1) ... + b_L)`` and ``head(z) = W z + b``.

    Shapes: ``x`` is ``(n, *input_shape)`` with ``prod(input_shape) == in_features``; ``features(x)`` is
    ``(n, n_features)`` with ``n_features = hidden[-1]`` (``in_features`` when ``hidden`` is empty); the output is
    ``(n, n_outputs)``. Each hidden layer is ``Linear -> ReLU -> Dropout(dropout)`` (no dropout layer when
    ``dropout == 0``).

    ``in_features`` is an int or a per-sample shape such as ``(2, 14, 14)``. ``init`` chooses how
    :meth:`reset_parameters` draws the weights: ``"torch"`` (PyTorch's default for ``nn.Linear``) or ``"xavier"``
    (Xavier-uniform weights and zero biases, as in the IRM reference implementation).
    """

    def __init__(
        self,
        in_features: int | Sequence[int],
        n_outputs: int,
        hidden: Sequence[int] = (256, 256),
        dropout: float = 0.0,
        init: str = "torch",
    ):
        super().__init__()
        if isinstance(in_features, int) and not isinstance(in_features, bool):
            self.in_features = checks.positive_int("MLP in_features", in_features)
        elif isinstance(in_features, Sequence) and not isinstance(in_features, str) and len(in_features) > 0:
            self.in_features = math.prod(checks.positive_int("MLP in_features", size) for size in in_features)
        else:
            raise ParameterError(f"MLP in_features must be a positive int or a per-sample shape, got {in_features!r}")
        self.n_outputs = checks.positive_int("MLP n_outputs", n_outputs)
        self.hidden = tuple(checks.positive_int("MLP hidden width", h) for h in hidden)
        self.dropout = checks.fraction("MLP dropout", dropout, zero_ok=True)
        if init not in _INITS:
            raise ParameterError(f"MLP init must be one of {list(_INITS)}, got {init!r}")
        self.init = init

        layers: list[nn.Module] = [nn.Flatten(1)]
        width = self.in_features
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.n_features = width
        self.classifier = nn.Linear(width, self.n_outputs)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw every weight from the global torch RNG (the trainer seeds and forks it around this call)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                if self.init == "xavier":
                    nn.init.xavier_uniform_(module.weight)
                    nn.init.zeros_(module.bias)
                else:
                    module.reset_parameters()
