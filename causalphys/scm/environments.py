"""Environments: named interventions on one SCM, each sampled with its own seed derived from the run seed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from causalphys.errors import CausalPhysError, InterventionError
from causalphys.scm.batch import Batch
from causalphys.scm.model import SCM
from causalphys.seeding import derive_seed


class Environments(Mapping):
    """``{name: intervened SCM}`` built from ``{name: {node: spec}}`` (specs as in :meth:`SCM.intervene`).

    An empty spec ``{}`` is the observational environment. Every environment is checked when the object is built,
    so a typo in a node name fails before any sampling.
    """

    def __init__(self, scm: SCM, interventions: Mapping[str, Mapping[str, object]]):
        if not interventions:
            raise InterventionError("Environments needs at least one named environment")
        self.scm = scm
        self.interventions = {str(k): dict(v or {}) for k, v in interventions.items()}
        self._scms = {}
        for name, spec in self.interventions.items():
            try:
                self._scms[name] = scm.intervene(spec)
            except CausalPhysError as err:
                raise InterventionError(f"environment {name!r}: {err}") from err

    def seed(self, name: str, seed: int) -> int:
        """The seed environment ``name`` is sampled with, derived from the run ``seed``."""
        self[name]
        return derive_seed(seed, "environment", name)

    def sample(self, n: int | Mapping[str, int], *, seed: int, **kwargs) -> dict[str, Batch]:
        """``{name: Batch}``: ``n`` units per environment (or ``n[name]``); ``kwargs`` go to :meth:`SCM.sample`."""
        if isinstance(n, Mapping):
            unknown = [k for k in n if k not in self._scms]
            missing = [k for k in self._scms if k not in n]
            if unknown or missing:
                raise InterventionError(
                    f"sample sizes must name exactly the environments {list(self)}; "
                    f"unknown: {unknown}, missing: {missing}"
                )
        sizes = {name: (n[name] if isinstance(n, Mapping) else n) for name in self._scms}
        return {name: scm.sample(sizes[name], seed=self.seed(name, seed), **kwargs) for name, scm in self._scms.items()}

    def __getitem__(self, name: str) -> SCM:
        if name not in self._scms:
            raise KeyError(f"unknown environment {name!r}; environments are {list(self._scms)}")
        return self._scms[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._scms)

    def __len__(self) -> int:
        return len(self._scms)

    def __repr__(self) -> str:
        return f"Environments({self.interventions})"
