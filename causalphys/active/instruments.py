"""Instruments the experiment loop measures with: an SCM's environments, or a user's callback for a real one.

An instrument answers ``measure(candidate, n, seed) -> (x, y)``: ``n`` labelled units of the experiment named
``candidate`` (a scanner, a dose, an intervention on the sample). ``pool(candidate, n, seed) -> x`` gives unlabelled
units of it, which uncertainty-driven strategies score before paying for labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

from causalphys import checks
from causalphys.errors import CausalPhysError, ParameterError
from causalphys.scm.model import SCM

Measurement = tuple[torch.Tensor, torch.Tensor]


class InstrumentError(CausalPhysError, ValueError):
    """An instrument returned something the loop cannot use (wrong shapes, non-finite values), or was asked for an
    experiment it does not offer."""


class SCMInstrument:
    """Measure with the environments of a structural causal model: ``{candidate: SCM}`` (e.g.
    ``Environments(scm, {"corrected": {"scanner": 0.0}, ...})``).

    ``measure`` draws ``n`` units of the candidate's SCM with ``seed`` and returns ``(transform(x_node), y_node)``
    (class labels as ``long`` with ``classification=True``, the default);
    ``pool`` draws unlabelled units from an independent stream of the same SCM (``seed`` offset by one, so that a
    pool never holds the units that are later measured with the same seed). ``unlabelled`` (``{name: SCM}``) adds
    environments that can be pooled but not measured: where the model will be used (a new scanner whose images the
    user has, without labels), for strategies that look at it (:class:`~causalphys.active.InstrumentMatchStrategy`).
    """

    def __init__(
        self,
        environments: Mapping[str, SCM],
        x: str = "image",
        y: str = "label",
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        classification: bool = True,
        unlabelled: Mapping[str, SCM] | None = None,
    ):
        if not environments:
            raise InstrumentError("SCMInstrument needs at least one environment (candidate experiment)")
        self.environments = dict(environments)
        self.unlabelled = dict(unlabelled or {})
        both = sorted(set(self.environments) & set(self.unlabelled))
        if both:
            raise InstrumentError(f"environment(s) {both} are both candidates and unlabelled pools; name them apart")
        self.x, self.y, self.transform, self.classification = x, y, transform, classification
        for name, scm in self.unlabelled.items():
            if x not in scm.graph:
                raise InstrumentError(f"unlabelled environment {name!r} has no node {x!r}; nodes are {list(scm.nodes)}")
        for name, scm in self.environments.items():
            missing = [node for node in (x, y) if node not in scm.graph]
            if missing:
                raise InstrumentError(f"environment {name!r} has no node(s) {missing}; nodes are {list(scm.nodes)}")

    @property
    def candidates(self) -> list[str]:
        return list(self.environments)

    def _scm(self, candidate: str) -> SCM:
        if candidate not in self.environments:
            raise InstrumentError(f"unknown experiment {candidate!r}; this instrument offers {self.candidates}")
        return self.environments[candidate]

    def measure(self, candidate: str, n: int, seed: int) -> Measurement:
        batch = self._scm(candidate).sample(n, seed=seed, nodes=[self.x, self.y])
        x = batch[self.x] if self.transform is None else self.transform(batch[self.x])
        y = batch[self.y]
        if self.classification:
            if bool((y != y.round()).any()):
                raise InstrumentError(f"node {self.y!r} of experiment {candidate!r} holds non-integer class labels")
            y = y.long()
        return x, y

    def pool(self, candidate: str, n: int, seed: int) -> torch.Tensor:
        """``n`` unlabelled inputs of a candidate experiment or of an ``unlabelled`` environment."""
        if candidate in self.unlabelled:
            scm = self.unlabelled[candidate]
        elif candidate in self.environments:
            scm = self.environments[candidate]
        else:
            raise InstrumentError(
                f"unknown environment {candidate!r} to pool; candidates {self.candidates}, "
                f"unlabelled {list(self.unlabelled)}"
            )
        batch = scm.sample(n, seed=seed + 1, nodes=[self.x])
        return batch[self.x] if self.transform is None else self.transform(batch[self.x])

    def __repr__(self) -> str:
        return f"SCMInstrument(candidates={self.candidates}, x={self.x!r}, y={self.y!r})"


def check_measurement(out: object, candidate: str, n: int, round_: int) -> Measurement:
    """``(x, y)`` with ``n`` units each, finite, or :class:`InstrumentError` naming the round and the experiment."""
    where = f"round {round_}, experiment {candidate!r}"
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise InstrumentError(f"the instrument must return (x, y); got {type(out).__name__} ({where})")
    x, y = (torch.as_tensor(v) for v in out)
    if x.dim() == 0 or y.dim() == 0 or len(x) != n or len(y) != n:
        raise InstrumentError(
            f"the instrument returned x of shape {tuple(x.shape)} and y of shape {tuple(y.shape)}; "
            f"asked for {n} units ({where})"
        )
    for name, v in (("x", x), ("y", y)):
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v.reshape(n, -1))).any(1).nonzero()[0])
            raise InstrumentError(f"the instrument returned a non-finite {name} for unit {bad} ({where})")
    return x, y


def check_budget(budget: int, batch_size: int) -> tuple[int, int]:
    """``(budget, batch_size)`` if both are positive integers, else :class:`InstrumentError`."""
    try:
        return checks.positive_int("budget", budget), checks.positive_int("batch_size", batch_size)
    except ParameterError as e:
        raise InstrumentError(str(e)) from None


def n_rounds(budget: int, batch_size: int) -> int:
    """Rounds needed to spend ``budget`` in batches of ``batch_size`` (the last one takes the remainder)."""
    return math.ceil(budget / batch_size)
