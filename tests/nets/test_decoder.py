"""Decoders map latents back to the input shape; images get the conv decoder."""

import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.nets import ConvDecoder, MLPDecoder, make_decoder, reinitialize
from causalphys.nets.decoder import upsampling_steps


@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 14, 14), (1, 8, 8), (3, 28, 28), (1, 5, 7), (1, 64, 64)])
def test_decoders_return_the_requested_shape(shape):
    decoder = make_decoder(4, shape, hidden=(16,), channels=8)
    assert isinstance(decoder, ConvDecoder if len(shape) == 3 else MLPDecoder)
    assert decoder(torch.randn(6, 4)).shape == (6, *shape)


def test_upsampling_steps_start_at_most_8_pixels():
    assert [upsampling_steps(h, h) for h in (4, 8, 9, 28, 64, 65)] == [0, 0, 1, 2, 3, 4]
    assert ConvDecoder(2, (1, 28, 20), channels=8).start == (7, 5)


def test_decoders_reinitialize_from_a_seed():
    a, b = reinitialize(ConvDecoder(3, (1, 8, 8), 8), 0), reinitialize(ConvDecoder(3, (1, 8, 8), 8), 0)
    z = torch.randn(2, 3)
    assert torch.equal(a(z), b(z))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: MLPDecoder(0, (3,)), "latent_dim"),
        (lambda: MLPDecoder(2, ()), "output_shape"),
        (lambda: MLPDecoder(2, "abc"), "output_shape"),
        (lambda: MLPDecoder(2, (3,), hidden=(0,)), "hidden width"),
        (lambda: ConvDecoder(2, (8, 8)), r"\(c, h, w\)"),
        (lambda: ConvDecoder(2, (1, 8, 8), channels=0), "channels"),
    ],
)
def test_bad_settings_raise_parameter_errors(build, message):
    with pytest.raises(ParameterError, match=message):
        build()
