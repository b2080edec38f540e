"""The oracle's SCM: the edges into the instrument nodes cut, so that the instrument no longer carries what the
sample causes (see :func:`cut_instrument_parents`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from causalphys.errors import ParameterError
from causalphys.scm.graph import CausalGraph
from causalphys.scm.mechanism import Mechanism
from causalphys.scm.model import SCM

COPY = "{node}~oracle"
"""The name of the oracle's independent copy of ``node`` (:func:`cut_instrument_parents`)."""


class RenamedParents(Mechanism):
    """``base`` with its parents read from other nodes: ``x = base({rename[q]: q for q in parents}, u)``.

    ``rename`` maps a node of the new graph to the parent name ``base`` expects (``{"T~oracle": "T"}``); ``order``
    lists ``base``'s parent names in its graph's order (they are passed in that order). Noise, shape and
    invertibility are ``base``'s.
    """

    def __init__(self, base: Mechanism, rename: Mapping[str, str], order: Sequence[str] = ()):
        self.base, self.rename, self.order = base, dict(rename), tuple(order)
        self._back = {old: new for new, old in self.rename.items()}
        self.noise, self.shape, self.invertible = base.noise, base.shape, base.invertible

    def _map(self, names):
        return None if names is None else frozenset(self._back.get(n, n) for n in names)

    def _parents(self, parents: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        named = {self.rename.get(k, k): v for k, v in parents.items()}
        return {**{k: named[k] for k in self.order if k in named}, **named}

    def parent_names(self):
        return self._map(self.base.parent_names())

    def required_parent_names(self):
        return self._map(self.base.required_parent_names())

    def check(self, node, parents):
        self.base.check(node, tuple(self.rename.get(p, p) for p in parents))

    def sample_noise(self, n, generator, device, dtype):
        return self.base.sample_noise(n, generator, device, dtype)

    def evaluate(self, parents, u, *, n, device, dtype):
        return self.base.evaluate(self._parents(parents), u, n=n, device=device, dtype=dtype)

    def invert(self, parents, value):
        return self.base.invert(self._parents(parents), value)

    def with_noise(self, noise):
        return RenamedParents(self.base.with_noise(noise), self.rename, self.order)

    def __repr__(self):
        return f"{self.base!r} reading {self.rename}"


def cut_instrument_parents(scm: SCM) -> SCM:
    """The oracle's SCM (module docstring): every edge ``p -> i`` with ``i`` an instrument node and ``p`` not one
    becomes ``COPY(p) -> i``. The copies are the cut parents and all their ancestors ``A``, with the same mechanisms
    and the same edges among themselves (``a -> b`` gives ``COPY(a) -> COPY(b)``) but their own noise (seeded by
    their own names), so ``(COPY(a))_{a in A}`` is an independent draw of ``(a)_{a in A}``. An SCM without such
    edges is returned unchanged. Copies get role ``"other"``."""
    graph = scm.graph
    instruments = set(graph.nodes_with_role("instrument"))
    cut = {p for i in instruments for p in graph.parents(i) if p not in instruments}
    if not cut:
        return scm
    copied = cut.union(*(graph.ancestors(p) for p in cut))
    name = {v: COPY.format(node=v) for v in graph.nodes if v in copied}
    clash = sorted(v for v in name.values() if v in graph)
    if clash:
        raise ParameterError(f"the oracle's copies {clash} clash with nodes of the SCM; rename those nodes")
    edges = []
    for a, b in graph.edges:
        edges.append((name[a], b) if b in instruments and a in cut else (a, b))
        if b in copied:  # then a is copied as well: the copies are closed under ancestors
            edges.append((name[a], name[b]))
    mechanisms = dict(scm.mechanisms)
    for v in graph.nodes:
        parents = graph.parents(v)
        if v in instruments and cut.intersection(parents):
            mechanisms[v] = RenamedParents(mechanisms[v], {name[p]: p for p in parents if p in cut}, parents)
        if v in copied:
            rename = {name[p]: p for p in parents}
            mechanisms[name[v]] = RenamedParents(scm.mechanisms[v], rename, parents) if rename else scm.mechanisms[v]
    new = CausalGraph(edges, nodes=[*graph.nodes, *name.values()], roles=graph.roles)
    return SCM(new, mechanisms, check_finite=scm.check_finite)
