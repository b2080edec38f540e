"""Errors raised by trainers: bad training data, an unusable net, a bad checkpoint, use before ``fit``."""

from __future__ import annotations

from causalphys.errors import CausalPhysError


class DataError(CausalPhysError, ValueError):
    """The environments passed to ``fit``/``predict`` are unusable; the message names the environment and problem."""


class DataTypeError(DataError, TypeError):
    """An environment is not a pair of tensors, or a tensor has the wrong dtype."""


class NetError(CausalPhysError, TypeError):
    """The net lacks ``features``/``head`` or cannot process the environments' inputs."""


class CheckpointError(CausalPhysError, ValueError):
    """A checkpoint cannot be read, does not fit the trainer or net, or cannot be resumed from."""


class NotFittedError(CausalPhysError, AttributeError):
    """``predict``/``save`` was called on a trainer that has no net yet (call ``fit`` or ``load`` first)."""
