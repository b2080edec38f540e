"""The mechanism contract: one structural equation ``x = f(parents, u)`` with its own exogenous noise ``u``.

A mechanism draws ``u`` from an explicit generator (:meth:`Mechanism.sample_noise`) and computes the node from its
parents and that noise (:meth:`Mechanism.evaluate`), vectorized over the batch: every tensor is batch-first,
``(n, *node_shape)``. An *invertible* mechanism can also recover ``u`` from the parents and the node's value
(:meth:`Mechanism.invert`, the abduction step of a counterfactual). Parents are passed by name, as keyword
arguments. The mechanisms themselves are listed in :mod:`causalphys.scm.catalog` (public as ``cp.mech``).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping

import torch

from causalphys.errors import CounterfactualError, MechanismError
from causalphys.scm.noise import Noise


class Mechanism:
    """Base class of every mechanism. Subclasses set ``noise`` and implement :meth:`evaluate`.

    Attributes
    ----------
    noise : Noise or None
        Distribution of the exogenous variable ``u``; ``None`` for a deterministic mechanism.
    invertible : bool
        Whether :meth:`invert` recovers ``u`` exactly from ``(parents, value)``.
    shape : tuple of int or None
        The node's shape without the batch dimension, if the mechanism knows it (checked after every call).
    """

    noise: Noise | None = None
    invertible: bool = False
    shape: tuple[int, ...] | None = None

    def parent_names(self) -> frozenset[str] | None:
        """Names of the parents the mechanism accepts; ``None`` when it takes whatever parents the node has."""
        return frozenset()

    def required_parent_names(self) -> frozenset[str]:
        """Names the mechanism cannot do without (a subset of :meth:`parent_names`)."""
        return self.parent_names() or frozenset()

    def check(self, node: str, parents: tuple[str, ...]) -> None:
        """Raise :class:`MechanismError` if this mechanism cannot compute ``node`` from ``parents``."""
        unknown = sorted(self.required_parent_names() - set(parents))
        if unknown:
            raise MechanismError(
                f"the mechanism of node {node!r} ({self!r}) takes {unknown}, which "
                f"{'is not a parent' if len(unknown) == 1 else 'are not parents'} of {node!r} "
                f"(parents: {sorted(parents)})",
                node,
            )
        names = self.parent_names()
        unused = [] if names is None else sorted(set(parents) - names)
        if unused:
            reserved = (
                "; 'u' is the name a mechanism's function gives its noise, so a parent node called 'u' cannot be "
                "passed to it: rename that node"
                if "u" in unused and self.noise is not None
                else ""
            )
            raise MechanismError(
                f"node {node!r} has parent(s) {unused} that its mechanism ({self!r}) does not take; "
                f"the mechanism takes {sorted(names)}{reserved}",
                node,
            )

    def sample_noise(
        self, n: int, generator: torch.Generator, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor | None:
        """Draw ``u`` for ``n`` units, shape ``(n, *noise.shape)``, or ``None`` if deterministic."""
        return None if self.noise is None else self.noise.sample(n, generator, device, dtype)

    def evaluate(
        self,
        parents: Mapping[str, torch.Tensor],
        u: torch.Tensor | None,
        *,
        n: int,
        device: torch.device,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """Compute the node, ``(n, *shape)``, from its parents (by name) and its noise."""
        raise NotImplementedError

    def invert(self, parents: Mapping[str, torch.Tensor], value: torch.Tensor) -> torch.Tensor:
        """Abduction: the noise ``u`` that produced ``value`` from ``parents``."""
        raise CounterfactualError(
            f"{type(self).__name__} is not invertible: pass the exogenous noise recorded at sampling "
            "(scm.sample(..., return_noise=True)) to compute counterfactuals through it"
        )

    def with_noise(self, noise: Noise | None) -> Mechanism:
        """A copy of this mechanism with another noise distribution (a soft intervention on the noise)."""
        new = copy.copy(self)
        new.noise = noise
        return new

    def __repr__(self) -> str:
        return f"{type(self).__name__}(noise={self.noise!r})"


def call_signature(f: Callable, *, exclude: tuple[str, ...] = ()) -> tuple[frozenset[str] | None, frozenset[str]]:
    """``(accepted, required)`` parameter names of ``f`` minus ``exclude``.

    ``accepted`` is ``None`` if ``f`` takes ``**kwargs``; ``required`` are those without a default. Raises
    :class:`TypeError` for positional-only or ``*args`` parameters: parents are passed by name.
    """
    if not callable(f):
        raise TypeError(f"expected a callable, got {f!r} ({type(f).__name__})")
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError) as err:  # builtins without a signature
        raise TypeError(
            f"cannot read the signature of {f!r}: write a function whose arguments name the parents"
        ) from err
    accepted: set[str] | None = set()
    required: set[str] = set()
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            accepted = None
            continue
        if p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL):
            raise TypeError(
                f"{f!r} has a positional-only or *args parameter {p.name!r}: parents are passed by name, "
                "so name each argument after a parent (or take **parents)"
            )
        if p.name in exclude:
            continue
        if accepted is not None:
            accepted.add(p.name)
        if p.default is p.empty:
            required.add(p.name)
    return (None if accepted is None else frozenset(accepted)), frozenset(required)


def as_tensor(value: object, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``value`` as a tensor on ``device`` with ``dtype``."""
    return torch.as_tensor(value, device=device, dtype=dtype)
