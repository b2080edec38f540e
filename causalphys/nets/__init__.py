"""Neural-network building blocks (``nn.Module`` only, no training logic).

Every net maps ``x`` to features ``z = features(x)`` of shape ``(n, n_features)`` and features to outputs
``head(z)`` of shape ``(n, n_outputs)``; ``forward(x) = head(features(x))``. A dense task's net (:class:`UNet`) keeps
the maps: features ``(n, d, h, w)``, outputs ``(n, n_outputs, h, w)``. Nets take no seed: the trainer
re-draws their weights from its own seed with :func:`causalphys.nets.init.reinitialize`. Decoders
(:mod:`causalphys.nets.decoder`) map latents ``(n, latent_dim)`` back to inputs, for VAE-type learners.
"""

from causalphys.nets.cnn import SmallCNN
from causalphys.nets.decoder import ConvDecoder, MLPDecoder, make_decoder
from causalphys.nets.init import reinitialize
from causalphys.nets.mlp import MLP
from causalphys.nets.unet import UNet

__all__ = ["MLP", "ConvDecoder", "MLPDecoder", "SmallCNN", "UNet", "make_decoder", "reinitialize"]
