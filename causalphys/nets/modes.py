"""Running nets for inference: eval mode and no gradients, with their training flags restored."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


@contextlib.contextmanager
def evaluating(*modules: nn.Module):
    """Run the block with ``modules`` in eval mode and without gradients; their training flags are restored after
    (also when the block raises)."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)
