"""Random-search ranges of hyper-parameters, kept next to their defaults in ``conf/trainer/*.yaml``.

Each trainer yaml has a top-level ``search_space`` key (:data:`SEARCH_SPACE_KEY`) that the instantiating code pops
before ``hydra.utils.instantiate``. It maps a constructor argument to a distribution (DomainBed's ranges):

- ``{distribution: uniform, low: a, high: b}``: ``U(a, b)``
- ``{distribution: log10_uniform, low: a, high: b}``: ``10 ** U(a, b)`` (a float)
- ``{distribution: log10_uniform_int, low: a, high: b}``: ``int(10 ** U(a, b))``
- ``{distribution: log2_uniform_int, low: a, high: b}``: ``int(2 ** U(a, b))``
- ``{distribution: choice, values: [v1, v2, ...]}``: one of the values, uniformly

Each hyper-parameter draws from its own generator seeded with ``derive_seed(seed, "search_space", name)``, so a
draw does not change when other entries are added or reordered.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch

from causalphys.errors import ParameterError
from causalphys.seeding import derive_seed, make_generator

SEARCH_SPACE_KEY = "search_space"

_RANGES = {
    "uniform": lambda u: u,
    "log10_uniform": lambda u: 10.0**u,
    "log10_uniform_int": lambda u: int(10.0**u),
    "log2_uniform_int": lambda u: int(2.0**u),
}
DISTRIBUTIONS = (*_RANGES, "choice")


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_search_space(space: Mapping, params: Iterable[str] | None = None) -> None:
    """Check every entry of ``space``; with ``params`` (the constructor's argument names), also that each is one.

    Raises :class:`ParameterError` naming the entry (``search_space.lr``) and the problem.
    """
    if not isinstance(space, Mapping):
        raise ParameterError(
            f"{SEARCH_SPACE_KEY} must be a mapping of name -> distribution, got {type(space).__name__}"
        )
    known = None if params is None else set(params)
    for name, spec in space.items():
        where = f"{SEARCH_SPACE_KEY}.{name}"
        if known is not None and name not in known:
            raise ParameterError(f"{where}: {name!r} is not a constructor argument; expected one of {sorted(known)}")
        if not isinstance(spec, Mapping) or spec.get("distribution") not in DISTRIBUTIONS:
            got = spec.get("distribution") if isinstance(spec, Mapping) else spec
            raise ParameterError(f"{where}: unknown distribution {got!r}; expected one of {list(DISTRIBUTIONS)}")
        if spec["distribution"] == "choice":
            values = spec.get("values")
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
                raise ParameterError(f"{where}: a choice needs a non-empty list 'values', got {values!r}")
            extra = set(spec) - {"distribution", "values"}
        else:
            low, high = spec.get("low"), spec.get("high")
            if not (_is_number(low) and _is_number(high) and low < high):
                raise ParameterError(f"{where}: needs numbers low < high, got low={low!r}, high={high!r}")
            extra = set(spec) - {"distribution", "low", "high"}
        if extra:
            raise ParameterError(f"{where}: unknown key(s) {sorted(extra)}")


def sample_search_space(space: Mapping, seed: int) -> dict[str, object]:
    """One random draw of every hyper-parameter in ``space`` (see the module doc), determined by ``seed``."""
    check_search_space(space)
    drawn: dict[str, object] = {}
    for name, spec in space.items():
        gen = make_generator(derive_seed(seed, SEARCH_SPACE_KEY, name))
        if spec["distribution"] == "choice":
            values = list(spec["values"])
            drawn[name] = values[int(torch.randint(len(values), (), generator=gen))]
        else:
            u = float(torch.rand((), generator=gen, dtype=torch.float64))
            drawn[name] = _RANGES[spec["distribution"]](spec["low"] + (spec["high"] - spec["low"]) * u)
    return drawn
