"""Decoders: latents ``(n, latent_dim)`` back to inputs ``(n, *output_shape)`` (for VAE-type learners)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from causalphys import checks
from causalphys.errors import ParameterError

SLOPE = 0.2
"""Negative slope of the decoders' leaky ReLUs."""


def _shape(owner: str, output_shape: Sequence[int]) -> tuple[int, ...]:
    if isinstance(output_shape, (str, bytes)) or not isinstance(output_shape, Sequence) or not output_shape:
        raise ParameterError(f"{owner} output_shape must be a per-sample shape such as (5,), got {output_shape!r}")
    return tuple(checks.positive_int(f"{owner} output_shape entry", s) for s in output_shape)


class MLPDecoder(nn.Module):
    """``x̂ = reshape(W_L lrelu(... lrelu(W_1 z + b_1) ...) + b_L)``: ``z`` ``(n, latent_dim)`` to
    ``(n, *output_shape)``; hidden widths ``hidden``, leaky ReLU with slope :data:`SLOPE` (which can represent the
    leaky-ReLU mixing of :mod:`causalphys.data.nonlinear_ica` exactly)."""

    def __init__(self, latent_dim: int, output_shape: Sequence[int], hidden: Sequence[int] = (64, 64)):
        super().__init__()
        self.latent_dim = checks.positive_int("MLPDecoder latent_dim", latent_dim)
        self.output_shape = _shape("MLPDecoder", output_shape)
        self.hidden = tuple(checks.positive_int("MLPDecoder hidden width", h) for h in hidden)
        layers: list[nn.Module] = []
        width = self.latent_dim
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(SLOPE)]
            width = h
        layers.append(nn.Linear(width, math.prod(self.output_shape)))
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z).reshape(len(z), *self.output_shape)


def upsampling_steps(height: int, width: int, start: int = 8) -> int:
    """The number ``k`` of 2x upsamplings so that a ``ceil(h / 2^k) x ceil(w / 2^k)`` start is at most ``start``."""
    k = 0
    while math.ceil(max(height, width) / 2**k) > start:
        k += 1
    return k


class ConvDecoder(nn.Module):
    """Latents ``(n, latent_dim)`` to images ``(n, c, h, w)``.

    ``Linear(latent_dim, channels · h0 · w0)`` -> reshape to ``(n, channels, h0, w0)`` with
    ``h0 = ceil(h / 2^k)``, ``w0 = ceil(w / 2^k)`` (``k`` from :func:`upsampling_steps`) -> ``k`` times
    [nearest 2x upsampling, 3x3 conv, leaky ReLU] -> a 3x3 conv to ``c`` channels -> the top-left ``h x w`` crop.
    """

    def __init__(self, latent_dim: int, output_shape: Sequence[int], channels: int = 32):
        super().__init__()
        self.latent_dim = checks.positive_int("ConvDecoder latent_dim", latent_dim)
        self.output_shape = _shape("ConvDecoder", output_shape)
        if len(self.output_shape) != 3:
            raise ParameterError(f"ConvDecoder output_shape must be (c, h, w), got {self.output_shape}")
        self.channels = checks.positive_int("ConvDecoder channels", channels)
        c, h, w = self.output_shape
        self.steps = upsampling_steps(h, w)
        self.start = (math.ceil(h / 2**self.steps), math.ceil(w / 2**self.steps))
        self.project = nn.Linear(self.latent_dim, self.channels * self.start[0] * self.start[1])
        layers: list[nn.Module] = [nn.LeakyReLU(SLOPE)]
        for _ in range(self.steps):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(self.channels, self.channels, 3, padding=1),
                nn.LeakyReLU(SLOPE),
            ]
        layers.append(nn.Conv2d(self.channels, c, 3, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _, h, w = self.output_shape
        maps = self.project(z).reshape(len(z), self.channels, *self.start)
        return self.layers(maps)[:, :, :h, :w]


def make_decoder(
    latent_dim: int, output_shape: Sequence[int], hidden: Sequence[int] = (64, 64), channels: int = 32
) -> nn.Module:
    """A :class:`ConvDecoder` for images ``(c, h, w)``, an :class:`MLPDecoder` for every other per-sample shape."""
    if len(tuple(output_shape)) == 3:
        return ConvDecoder(latent_dim, output_shape, channels)
    return MLPDecoder(latent_dim, output_shape, hidden)
