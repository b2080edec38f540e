"""Checks of constructor hyper-parameters shared by every trainer; each error names the trainer and the key."""

from __future__ import annotations

import math
from collections.abc import Collection

from causalphys.errors import ParameterError


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def positive_float(owner: str, name: str, value: object) -> float:
    """``value`` as a float if it is a finite number ``> 0``, else :class:`ParameterError`."""
    if not _is_number(value) or value <= 0:
        raise ParameterError(f"{owner} {name} must be a finite number > 0, got {value!r}")
    return float(value)


def nonnegative_float(owner: str, name: str, value: object) -> float:
    """``value`` as a float if it is a finite number ``>= 0``, else :class:`ParameterError`."""
    if not _is_number(value) or value < 0:
        raise ParameterError(f"{owner} {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def nonnegative_int(owner: str, name: str, value: object) -> int:
    """``value`` if it is an int ``>= 0`` (not a bool), else :class:`ParameterError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ParameterError(f"{owner} {name} must be an int >= 0, got {value!r}")
    return value


def positive_int(owner: str, name: str, value: object) -> int:
    """``value`` if it is an int ``> 0`` (not a bool), else :class:`ParameterError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ParameterError(f"{owner} {name} must be an int > 0, got {value!r}")
    return value


def choice(owner: str, name: str, value: object, options: Collection[object]) -> object:
    """``value`` if it is one of ``options``, else :class:`ParameterError` listing them."""
    if value not in options:
        raise ParameterError(f"{owner} {name} must be one of {list(options)}, got {value!r}")
    return value


def boolean(owner: str, name: str, value: object) -> bool:
    """``value`` if it is a bool, else :class:`ParameterError`."""
    if not isinstance(value, bool):
        raise ParameterError(f"{owner} {name} must be true or false, got {value!r}")
    return value
