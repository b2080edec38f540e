"""A small U-Net for dense (per-pixel) tasks: an image in, one map per output channel out, the same size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.nets.base import FeatureNet


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """Two ``Conv2d(3x3, padding 1) -> ReLU -> GroupNorm(8 groups)``."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.ReLU(),
        nn.GroupNorm(8, c_out),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.ReLU(),
        nn.GroupNorm(8, c_out),
    )


class _Body(nn.Module):
    def __init__(self, in_channels: int, width: int, depth: int):
        super().__init__()
        channels = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList([_block(in_channels, channels[0])])
        self.down.extend(_block(channels[i], channels[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(_block(channels[i + 1] + channels[i], channels[i]) for i in reversed(range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2, ceil_mode=True))
            skips.append(x)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        return x


class UNet(FeatureNet):
    """Encoder-decoder with skip connections (Ronneberger et al. 2015), sized for small CPU experiments.

    ``depth`` times: a block of two 3x3 convs (ReLU, GroupNorm(8)) then a 2x2 max pool, the channels doubling from
    ``width``; back up by bilinear upsampling to the skip's size, concatenation with it and a block. ``features(x)``
    is the last block's map ``(n, width, h, w)`` — per pixel, not pooled — and ``head`` a 1x1 conv to ``n_outputs``
    maps ``(n, n_outputs, h, w)``: the outputs of a dense task (``task="dense"``), e.g. column heat maps. Any image
    size works (``x`` is ``(n, in_channels, h, w)``).
    """

    def __init__(self, in_channels: int, n_outputs: int, width: int = 16, depth: int = 2):
        super().__init__()
        self.in_channels = checks.positive_int("UNet in_channels", in_channels)
        self.n_outputs = checks.positive_int("UNet n_outputs", n_outputs)
        self.width = checks.positive_int("UNet width", width)
        self.depth = checks.positive_int("UNet depth", depth)
        if self.width % 8:
            raise ParameterError(f"UNet width must be a multiple of 8 (GroupNorm uses 8 groups), got {width!r}")
        self.n_features = self.width
        self.body = _Body(self.in_channels, self.width, self.depth)
        self.classifier = nn.Conv2d(self.width, self.n_outputs, 1)
