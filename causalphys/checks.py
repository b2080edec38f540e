"""Argument checks, one function per kind of value: the library's one set of validators.

Each takes a ``label`` that names the value where it is wrong — ``"ERM lr"``, ``"benchmark.n_train"``,
``"Bernoulli.p"`` — and returns the value (numbers as ``float``) or raises :class:`ParameterError`
``"{label} must be ..., got {value!r}"``. Integers are ``int`` and never ``bool`` (``True`` is not a count);
numbers are real numbers (``int``, ``float``, NumPy scalars; not ``bool``) and finite (NaN and ±inf refused).
``none_ok=True`` also lets ``None`` through (a yaml ``null``: "use the default"), and says so in the message.

This module sits at the bottom of the package: it imports only :mod:`causalphys.errors`.
"""

from __future__ import annotations

import math
import numbers
import pkgutil
from collections.abc import Callable, Collection

from causalphys.errors import ParameterError


def _fail(label: str, what: str, value: object, none_ok: bool = False) -> ParameterError:
    return ParameterError(f"{label} must be {what}{' or null' if none_ok else ''}, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def integer(label: str, value: object) -> int:
    """``value`` if it is an int (not a bool), of any sign (a seed)."""
    if not _is_int(value):
        raise _fail(label, "an int", value)
    return value


def int_at_least(label: str, value: object, low: int, *, none_ok: bool = False) -> int | None:
    """``value`` if it is an int ``>= low`` (not a bool)."""
    if value is None and none_ok:
        return None
    if not _is_int(value) or value < low:
        raise _fail(label, f"an integer >= {low}", value, none_ok)
    return value


def positive_int(label: str, value: object, *, none_ok: bool = False) -> int | None:
    """``value`` if it is an int ``> 0`` (not a bool)."""
    if value is None and none_ok:
        return None
    if not _is_int(value) or value <= 0:
        raise _fail(label, "a positive integer", value, none_ok)
    return value


def nonnegative_int(label: str, value: object, *, none_ok: bool = False) -> int | None:
    """``value`` if it is an int ``>= 0`` (not a bool)."""
    if value is None and none_ok:
        return None
    if not _is_int(value) or value < 0:
        raise _fail(label, "a non-negative integer", value, none_ok)
    return value


def finite_float(label: str, value: object) -> float:
    """``value`` as a float if it is a finite real number."""
    if not _is_finite(value):
        raise _fail(label, "a finite number", value)
    return float(value)


def positive_float(label: str, value: object, *, none_ok: bool = False) -> float | None:
    """``value`` as a float if it is a finite real number ``> 0``."""
    if value is None and none_ok:
        return None
    if not _is_finite(value) or value <= 0:
        raise _fail(label, "a positive finite number", value, none_ok)
    return float(value)


def nonnegative_float(label: str, value: object, *, none_ok: bool = False) -> float | None:
    """``value`` as a float if it is a finite real number ``>= 0``."""
    if value is None and none_ok:
        return None
    if not _is_finite(value) or value < 0:
        raise _fail(label, "a non-negative finite number", value, none_ok)
    return float(value)


def probability(label: str, value: object) -> float:
    """``value`` as a float if it is a real number in ``[0, 1]``."""
    if not _is_finite(value) or not 0 <= value <= 1:
        raise _fail(label, "a probability in [0, 1]", value)
    return float(value)


def fraction(label: str, value: object, *, zero_ok: bool = False) -> float:
    """``value`` as a float if it is a real number in ``(0, 1)``, or in ``[0, 1)`` with ``zero_ok`` (a dropout
    rate, a moving-average factor)."""
    low_ok = _is_finite(value) and (value >= 0 if zero_ok else value > 0)
    if not low_ok or value >= 1:
        raise _fail(label, f"a number in {'[' if zero_ok else '('}0, 1)", value)
    return float(value)


def choice(label: str, value: object, options: Collection[object]) -> object:
    """``value`` if it is one of ``options``; the message lists them."""
    if value not in options:
        raise _fail(label, f"one of {list(options)}", value)
    return value


def boolean(label: str, value: object) -> bool:
    """``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise _fail(label, "true or false", value)
    return value


def function(path: object, label: str) -> Callable:
    """The function at the dotted ``path`` (``"package.module.function"``, :func:`pkgutil.resolve_name`)."""
    try:
        found = pkgutil.resolve_name(path) if isinstance(path, str) else None
    except (ImportError, AttributeError, ValueError):
        found = None
    if not callable(found):
        raise _fail(label, "the dotted path of a function (package.module.function)", path)
    return found
