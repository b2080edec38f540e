"""The project's error types.

Every error that causalphys raises on purpose subclasses :class:`CausalPhysError`, and also ``ValueError`` or
``TypeError`` where that fits, so ``except ValueError`` keeps working for callers who don't know our types.
Messages name what is wrong and where: the node, the key, the shape, the value.
"""

from __future__ import annotations


class CausalPhysError(Exception):
    """Base class of every error causalphys raises on purpose."""


class GraphError(CausalPhysError, ValueError):
    """A causal graph is malformed: an unknown node, a self-loop, a bad role."""


class CycleError(GraphError):
    """The edges form a cycle; ``cycle`` holds it as a list of edges."""

    def __init__(self, cycle: list[tuple[str, str]]):
        self.cycle = list(cycle)
        path = " -> ".join([str(u) for u, _ in self.cycle] + [str(self.cycle[0][0])])
        super().__init__(f"the causal graph has a cycle: {path}")


class ParameterError(CausalPhysError, ValueError):
    """A parameter has an impossible value (a probability above 1, a negative scale, ...)."""


class MechanismError(CausalPhysError, ValueError):
    """A node's mechanism is missing, does not fit its parents, or returned a bad value.

    ``node`` names the node (``None`` where the problem spans several nodes).
    """

    def __init__(self, message: str, node: str | None = None):
        self.node = node
        super().__init__(message)


class InterventionError(CausalPhysError, ValueError):
    """An intervention names an unknown node or cannot be read."""


class CounterfactualError(CausalPhysError, ValueError):
    """A counterfactual cannot be computed (non-invertible mechanism without recorded noise, missing node...)."""


class SweepFailedError(CausalPhysError, RuntimeError):
    """Runs of a sweep failed (their jobs crashed, were cancelled or timed out, or the run raised); the message
    names each failed run and where its log is."""


class DimensionError(CausalPhysError, ValueError):
    """An equation is dimensionally inconsistent: a term's physical dimension differs from its target's, or a
    transcendental function (log, exp) is applied to a dimensional quantity. The message names the term, its
    dimension and the one expected."""


class DomainError(CausalPhysError, ValueError):
    """A term cannot be evaluated on the data: ``log``/``sqrt``/a free power of non-positive values, an ``exp``
    that overflows, a user term that returns NaN or inf. The message names the term and how many rows fail."""
