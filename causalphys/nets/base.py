"""The shape every net has: a feature extractor ``body`` and a linear ``classifier`` head."""

from __future__ import annotations

import torch
from torch import nn


class FeatureNet(nn.Module):
    """``forward(x) = head(features(x))`` with ``features = body`` ``(n, ...) -> (n, n_features)`` and
    ``head = classifier`` ``(n, n_features) -> (n, n_outputs)``; subclasses build ``body`` and ``classifier``.
    Penalties on features (CORAL, MMD, Fishr) use the two halves."""

    body: nn.Module
    classifier: nn.Module

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def head(self, z: torch.Tensor) -> torch.Tensor:
        return self.classifier(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
