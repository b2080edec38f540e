"""Neural-network building blocks (``nn.Module`` only, no training logic).

Every net maps ``x`` to features ``z = features(x)`` of shape ``(n, n_features)`` and features to outputs
``head(z)`` of shape ``(n, n_outputs)``; ``forward(x) = head(features(x))``. Nets take no seed: the trainer
re-draws their weights from its own seed with :func:`causalphys.nets.init.reinitialize`.
"""

from causalphys.nets.cnn import SmallCNN
from causalphys.nets.init import reinitialize
from causalphys.nets.mlp import MLP

__all__ = ["MLP", "SmallCNN", "reinitialize"]
