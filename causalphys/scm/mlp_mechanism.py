"""A random multilayer-perceptron mechanism (``cp.mech.MLPMechanism``; the trainable net is ``cp.nets.MLP``):
nonlinear structural equations with additive noise."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from causalphys import checks
from causalphys.errors import MechanismError, ParameterError
from causalphys.scm import noise as nz
from causalphys.scm.functional import Additive
from causalphys.seeding import make_generator

_ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "leaky_relu": torch.nn.functional.leaky_relu,
}


class MLPMechanism(Additive):
    """``x = g(concat(parents)) + u`` with ``g`` a fixed random MLP.

    The parents (sorted by name) are flattened and concatenated into ``(n, d)``; ``g`` has hidden widths
    ``hidden``, the activation between layers, and output ``out_shape``. Weights are ``N(0, 1/fan_in)``, biases
    ``N(0, 0.1²)``, drawn from ``seed`` (the same seed gives the same function on every device). Invertible like
    every additive mechanism.
    """

    def __init__(
        self,
        hidden: Sequence[int] = (16,),
        noise: nz.Noise | None = None,
        out_shape: int | Sequence[int] = (),
        activation: str = "tanh",
        seed: int = 0,
    ):
        checks.choice("MLPMechanism activation", activation, sorted(_ACTIVATIONS))
        self.hidden = tuple(int(h) for h in hidden)
        if any(h <= 0 for h in self.hidden):
            raise ParameterError(f"MLPMechanism hidden widths must be positive, got {self.hidden}")
        self.out_shape = (out_shape,) if isinstance(out_shape, int) else tuple(out_shape)
        self.activation = activation
        self.seed = int(seed)
        self.noise = nz.Normal(shape=self.out_shape) if noise is None else noise
        self.shape = self.out_shape
        self._weights: dict[tuple, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    chunk = 16_384
    """Rows per chunk in :meth:`predict` (memory, not results: every row is computed the same way)."""

    def parent_names(self):
        return None

    def required_parent_names(self):
        return frozenset()

    def check(self, node, parents):
        if not parents:
            raise MechanismError(
                f"the MLP mechanism of node {node!r} needs at least one parent; {node!r} has none", node
            )

    def weights(self, in_dim: int, device: torch.device, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The layers ``[(W, b), ...]`` for input width ``in_dim`` (drawn once per width, device and dtype)."""
        key = (in_dim, str(device), dtype)
        if key not in self._weights:
            gen = make_generator(self.seed)
            widths = [in_dim, *self.hidden, math.prod(self.out_shape)]
            layers = []
            for fan_in, fan_out in zip(widths[:-1], widths[1:]):
                w = torch.randn(fan_in, fan_out, generator=gen, dtype=torch.float64) / math.sqrt(fan_in)
                b = 0.1 * torch.randn(fan_out, generator=gen, dtype=torch.float64)
                layers.append((w.to(device, dtype), b.to(device, dtype)))
            self._weights[key] = layers
        return self._weights[key]

    def predict(self, parents, *, n, device, dtype):
        """``g(concat(parents))``, computed in row chunks of :attr:`chunk` so that the hidden activations (``n x
        width``) never exist for the whole batch at once."""
        inputs = [parents[k].reshape(n, -1) for k in sorted(parents)]
        layers = self.weights(sum(x.shape[1] for x in inputs), device, dtype)
        act = _ACTIVATIONS[self.activation]
        out = torch.empty(n, layers[-1][0].shape[1], device=device, dtype=dtype)
        for start in range(0, n, self.chunk):
            rows = slice(start, start + self.chunk)
            x = torch.cat([p[rows].to(dtype) for p in inputs], dim=1)
            for i, (w, b) in enumerate(layers):
                x = torch.addmm(b, x, w)
                if i < len(layers) - 1:
                    x = act(x)
            out[rows] = x
        return out.reshape(n, *self.out_shape)

    def evaluate(self, parents, u, *, n, device, dtype):
        """``g(...) + u``, the noise added in place into the freshly computed ``g(...)`` (no third buffer)."""
        out = self.predict(parents, n=n, device=device, dtype=dtype)
        return out if u is None else out.add_(u)

    def __repr__(self):
        return (
            f"MLPMechanism(hidden={self.hidden}, out_shape={self.out_shape}, activation={self.activation!r}, "
            f"seed={self.seed})"
        )
