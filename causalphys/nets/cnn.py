"""The small CNN of DomainBed's MNIST experiments."""

from __future__ import annotations

from torch import nn

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.nets.base import FeatureNet


class SmallCNN(FeatureNet):
    """Four 3x3 conv blocks and a linear head (DomainBed's ``MNIST_CNN``, with its channel counts scaled).

    Block ``i`` is ``Conv2d(3x3, padding 1) -> ReLU -> GroupNorm(8 groups)``; the channels are ``width``,
    ``2 width``, ``2 width``, ``2 width`` (64-128-128-128 at the default ``width=64``); ``strides`` per conv (default
    ``(1, 2, 1, 1)``: the second conv has stride 2; ``(2, 2, 1, 1)`` makes 64x64 images 7x cheaper).
    A global average pool turns the ``(n, 2 width, h', w')`` map into features of shape ``(n, n_features)`` with
    ``n_features = 2 width``; ``head`` is ``Linear(n_features, n_outputs)``. Any input size works (28x28, 64x64,
    ...): ``x`` is ``(n, in_channels, h, w)``. ``features=k`` appends ``Linear(2 width, k)`` to the pooled map, so
    that ``n_features = k``: a representation narrower than the net (e.g. a content block of a few dimensions for
    :class:`~causalphys.trainers.ContentStyle`); the default ``None`` is DomainBed's net.
    """

    def __init__(
        self,
        in_channels: int,
        n_outputs: int,
        width: int = 64,
        strides: tuple[int, ...] = (1, 2, 1, 1),
        features: int | None = None,
    ):
        super().__init__()
        self.in_channels = checks.positive_int("SmallCNN in_channels", in_channels)
        self.n_outputs = checks.positive_int("SmallCNN n_outputs", n_outputs)
        self.width = checks.positive_int("SmallCNN width", width)
        if self.width % 8:
            raise ParameterError(f"SmallCNN width must be a multiple of 8 (GroupNorm uses 8 groups), got {width!r}")
        channels = [self.in_channels, self.width, 2 * self.width, 2 * self.width, 2 * self.width]
        strides = tuple(int(s) for s in strides)
        if len(strides) != 4 or min(strides) < 1:
            raise ParameterError(f"SmallCNN strides must be four positive ints (one per conv), got {strides!r}")
        self.strides = strides
        layers: list[nn.Module] = []
        for c_in, c_out, stride in zip(channels[:-1], channels[1:], strides):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.ReLU(), nn.GroupNorm(8, c_out)]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
        self.n_features = channels[-1]
        if features is not None:
            layers.append(nn.Linear(self.n_features, checks.positive_int("SmallCNN features", features)))
            self.n_features = features
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(self.n_features, self.n_outputs)
