"""The structural causal model: a causal graph plus one mechanism per node.

Sampling runs the structural equations ``x_j = f_j(pa_j, u_j)`` in topological order, vectorized over the batch.
Each node's noise ``u_j`` comes from its own generator, seeded by ``derive_seed(seed, "node", j)``: the same seed
gives the same tensors, and an intervened SCM sampled with the same seed keeps the noise of every node it did not
touch (common random numbers), so ``scm.do(x=1).sample(n, seed=s)`` is the counterfactual of
``scm.sample(n, seed=s)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

import networkx as nx
import torch

from causalphys import checks
from causalphys.errors import (
    CausalPhysError,
    CounterfactualError,
    InterventionError,
    MechanismError,
    ParameterError,
)
from causalphys.parallel import Prefetch
from causalphys.scm.batch import Batch
from causalphys.scm.graph import CausalGraph
from causalphys.scm.interventions import Do, Intervention, parse, parse_all
from causalphys.scm.mechanism import Mechanism
from causalphys.seeding import derive_seed, make_generator

NoiseSource = Callable[[str, Mechanism], "torch.Tensor | None"]
_PREFETCH_MIN_UNITS = 256  # below this a background thread costs more than it saves


def _exact_cast(source: torch.dtype, target: torch.dtype) -> bool:
    """Whether a mechanism's output of dtype ``source`` converts to the sampling dtype ``target`` without loss, as
    done silently: booleans and integers (labels, counts) into a floating dtype, a narrower float into a wider one.
    A wider float into a narrower one (float64 -> float32), anything complex, or a float into an integer is refused."""
    if source.is_complex or not target.is_floating_point:
        return False
    if not source.is_floating_point:
        return True
    return torch.finfo(source).bits < torch.finfo(target).bits


class SCM:
    """A structural causal model.

    Parameters
    ----------
    graph : CausalGraph, a list of ``(cause, effect)`` edges, or a ``networkx.DiGraph``
    mechanisms : ``{node: Mechanism}``, one for every node of the graph
    check_finite : raise :class:`MechanismError` naming the node when a mechanism produces NaN or inf
    """

    def __init__(
        self,
        graph: CausalGraph | nx.DiGraph | list[tuple[str, str]],
        mechanisms: Mapping[str, Mechanism],
        *,
        check_finite: bool = True,
    ):
        graph = graph if isinstance(graph, CausalGraph) else CausalGraph(graph)
        missing = [n for n in graph.nodes if n not in mechanisms]
        if missing:
            raise MechanismError(f"no mechanism for node(s) {missing}; every node of the graph needs one", missing[0])
        unknown = [n for n in mechanisms if n not in graph]
        if unknown:
            raise MechanismError(
                f"mechanism(s) given for {unknown}, which are not nodes of the graph {list(graph.nodes)}", unknown[0]
            )
        for node in graph.nodes:
            mech = mechanisms[node]
            if not isinstance(mech, Mechanism):
                raise MechanismError(
                    f"the mechanism of node {node!r} must be a causalphys Mechanism (cp.mech.*), "
                    f"got {mech!r} ({type(mech).__name__})",
                    node,
                )
            mech.check(node, graph.parents(node))
        self._graph = graph
        self._mechanisms = {n: mechanisms[n] for n in graph.nodes}
        self.check_finite = check_finite

    # -- structure ------------------------------------------------------------------------------------------
    @property
    def graph(self) -> CausalGraph:
        return self._graph

    @property
    def mechanisms(self) -> Mapping[str, Mechanism]:
        """``{node: mechanism}`` (read-only)."""
        return MappingProxyType(self._mechanisms)

    @property
    def nodes(self) -> tuple[str, ...]:
        """The nodes in topological order."""
        return self._graph.nodes

    # -- sampling -------------------------------------------------------------------------------------------
    def sample(
        self,
        n: int,
        *,
        seed: int,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        return_noise: bool = False,
        nodes: Iterable[str] | None = None,
    ) -> Batch:
        """Draw ``n`` units: ``{node: tensor (n, *shape)}``, every value in ``dtype`` on ``device``.

        With ``return_noise=True`` the exogenous noise of every node is kept in ``batch.noise``, so that
        counterfactuals through non-invertible mechanisms can be computed later. ``nodes`` restricts the work to
        those nodes and their ancestors (the values are the same as in a full draw with the same seed).
        """
        n = checks.positive_int("the number of samples n", n)
        device = torch.device(device)
        only = None
        if nodes is not None:
            nodes = [nodes] if isinstance(nodes, str) else list(nodes)
            unknown = [k for k in nodes if k not in self._graph]
            if unknown:
                raise MechanismError(f"cannot sample unknown node(s) {unknown}; nodes are {list(self.nodes)}")
            only = set(nodes).union(*(self._graph.ancestors(k) for k in nodes))

        def draw(node: str) -> torch.Tensor | None:
            mech = self._mechanisms[node]
            return mech.sample_noise(n, make_generator(derive_seed(seed, "node", node), device), device, dtype)

        # each node's noise comes from its own generator: drawing it on a background thread while the earlier
        # nodes' equations run changes nothing in the values (worth it for large batches on several CPU threads)
        drawn = [node for node in self.nodes if only is None or node in only]
        ahead = device.type == "cpu" and n >= _PREFETCH_MIN_UNITS and torch.get_num_threads() > 1
        with Prefetch(draw, drawn, enabled=ahead) as noise_source:
            values, noise = self._forward(
                n, device, dtype, lambda node, mech: noise_source.get(node), keep={}, only=only, record=return_noise
            )
        return Batch(values, noise if return_noise else None)

    def _forward(
        self,
        n: int,
        device: torch.device,
        dtype: torch.dtype,
        noise_of: NoiseSource,
        keep: Mapping[str, torch.Tensor],
        only: set[str] | None = None,
        record: bool = False,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Run the structural equations in topological order; nodes in ``keep`` take the given values; with
        ``only``, nodes outside it are skipped (it must be closed under ancestors). The noise is returned only
        with ``record`` (otherwise each node's noise is freed once the node is computed)."""
        values: dict[str, torch.Tensor] = {}
        noises: dict[str, torch.Tensor] = {}
        for node in self.nodes:
            if only is not None and node not in only:
                continue
            if node in keep:
                values[node] = keep[node]
                continue
            mech = self._mechanisms[node]
            u = noise_of(node, mech)
            if record and u is not None:
                noises[node] = u
            parents = {p: values[p] for p in self._graph.parents(node)}
            values[node] = self._evaluate(node, mech, parents, u, n, device, dtype)
        return values, noises

    def _evaluate(self, node, mech, parents, u, n, device, dtype) -> torch.Tensor:
        try:
            out = mech.evaluate(parents, u, n=n, device=device, dtype=dtype)
        except (MechanismError, ParameterError) as err:
            if getattr(err, "node", None) is not None:
                raise
            raise MechanismError(f"node {node!r}: {err}", node) from err
        except CausalPhysError:
            raise
        except Exception as err:
            raise MechanismError(
                f"the mechanism of node {node!r} ({mech!r}) failed on parents "
                f"{ {p: tuple(v.shape) for p, v in parents.items()} }: {type(err).__name__}: {err}",
                node,
            ) from err
        if not isinstance(out, torch.Tensor):
            raise MechanismError(
                f"the mechanism of node {node!r} returned {type(out).__name__}; expected a tensor of shape "
                f"(n={n}, ...)",
                node,
            )
        if out.dim() == 0 or out.shape[0] != n:
            raise MechanismError(
                f"the mechanism of node {node!r} returned shape {tuple(out.shape)}; expected the batch size {n} "
                "as the first dimension",
                node,
            )
        if mech.shape is not None and tuple(out.shape[1:]) != tuple(mech.shape):
            raise MechanismError(
                f"the mechanism of node {node!r} returned shape {tuple(out.shape)}; expected {(n, *mech.shape)}",
                node,
            )
        if out.dtype != dtype:
            if not _exact_cast(out.dtype, dtype):
                raise MechanismError(
                    f"the mechanism of node {node!r} returned dtype {out.dtype} but the SCM samples in {dtype}: "
                    f"converting would lose precision; return the sampling dtype (the mechanism's `dtype` argument, "
                    f"or `.to(dtype)`), or sample in {out.dtype}",
                    node,
                )
        if out.dtype != dtype or out.device != device:
            out = out.to(device=device, dtype=dtype)
        # one pass: a sum is finite unless some value is NaN or ±inf (or the sum overflows, rechecked exactly)
        if self.check_finite and out.is_floating_point() and not bool(torch.isfinite(out.sum())):
            finite = torch.isfinite(out)
            if not bool(finite.all()):
                bad = (~finite).reshape(n, -1).any(dim=1)
                raise MechanismError(
                    f"node {node!r} produced NaN or inf for {int(bad.sum())} of {n} units "
                    f"(first at unit {int(bad.nonzero()[0])}); mechanism: {mech!r}",
                    node,
                )
        return out

    # -- interventions --------------------------------------------------------------------------------------
    def intervene(self, interventions: Mapping[str, object] | None = None, /, **specs: object) -> SCM:
        """A new SCM with the interventions applied (this one is unchanged).

        ``interventions`` and ``specs`` map nodes to specs (see :mod:`causalphys.scm.interventions`): a value for
        ``do``, a Mechanism to replace, a Noise, ``{"shift": d}``, ``{"scale": s}``, or a list applied in order.
        A new mechanism that takes fewer parents cuts the edges from the others.
        """
        parsed = parse_all({**dict(interventions or {}), **specs})
        return self._apply(parsed)

    def do(self, interventions: Mapping[str, object] | None = None, /, **values: object) -> SCM:
        """Hard intervention ``do(node := value)`` on each node given: a number, or a tensor (one value per unit
        when its first dimension is the batch size). Returns a new SCM."""
        parsed = {}
        for node, value in {**dict(interventions or {}), **values}.items():
            iv = parse(value, node)
            if not isinstance(iv, Do):
                raise InterventionError(
                    f"do() takes values; got {value!r} for node {node!r}. Use intervene() for soft interventions"
                )
            parsed[node] = iv
        return self._apply(parsed)

    def _apply(self, interventions: Mapping[str, Intervention]) -> SCM:
        unknown = [n for n in interventions if n not in self._graph]
        if unknown:
            raise InterventionError(f"cannot intervene on unknown node(s) {unknown}; nodes are {list(self.nodes)}")
        mechanisms = dict(self._mechanisms)
        cut = []
        for node, iv in interventions.items():
            try:
                mechanisms[node] = iv.apply(mechanisms[node])
            except CausalPhysError as err:
                raise InterventionError(f"intervention on node {node!r}: {err}") from err
            accepted = mechanisms[node].parent_names()
            if accepted is not None:
                cut += [(p, node) for p in self._graph.parents(node) if p not in accepted]
        graph = self._graph.without_edges(cut) if cut else self._graph
        return SCM(graph, mechanisms, check_finite=self.check_finite)

    # -- counterfactuals ------------------------------------------------------------------------------------
    def counterfactual(
        self,
        batch: Mapping[str, torch.Tensor],
        do: Mapping[str, object] | None = None,
        *,
        noise: Mapping[str, torch.Tensor] | None = None,
    ) -> Batch:
        """The same units under the interventions ``do``: abduction, action, prediction.

        Nodes that are not downstream of an intervention keep their factual values. Downstream nodes are
        recomputed with their own exogenous noise: ``noise`` if given, else ``batch.noise`` if it was recorded,
        else recovered from the factual values by an invertible mechanism (:class:`CounterfactualError`
        otherwise).
        """
        interventions = parse_all(do)
        cf_scm = self._apply(interventions)
        missing = [n for n in self.nodes if n not in batch]
        if missing:
            raise CounterfactualError(f"the batch lacks node(s) {missing}; a counterfactual needs every node")
        n = int(batch[self.nodes[0]].shape[0])
        wrong = {k: tuple(batch[k].shape) for k in self.nodes if batch[k].dim() == 0 or batch[k].shape[0] != n}
        if wrong:
            raise CounterfactualError(f"batch tensors must all have {n} units first; these do not: {wrong}")
        recorded = dict(noise) if noise is not None else dict(getattr(batch, "noise", None) or {})
        affected = set(interventions)
        for node in interventions:
            affected |= cf_scm.graph.descendants(node)
        first = batch[self.nodes[0]]
        device, dtype = first.device, first.dtype

        def abduct(node: str, mech: Mechanism) -> torch.Tensor | None:
            if mech.noise is None:
                return None
            if node in recorded:
                return recorded[node]
            factual = self._mechanisms[node]
            if not factual.invertible:
                raise CounterfactualError(
                    f"node {node!r} lies downstream of the intervention on {sorted(interventions)} and its "
                    f"mechanism {factual!r} is not invertible: sample with return_noise=True (or pass noise=) so "
                    "that its exogenous noise is known"
                )
            parents = {p: batch[p] for p in self._graph.parents(node)}
            return factual.invert(parents, batch[node])

        keep = {k: batch[k] for k in self.nodes if k not in affected}
        has_noise = noise is not None or getattr(batch, "noise", None) is not None
        values, used = cf_scm._forward(n, device, dtype, abduct, keep, record=has_noise)
        return Batch(values, {**recorded, **used} if has_noise else None)

    def __repr__(self) -> str:
        lines = [f"SCM({len(self.nodes)} nodes)"]
        for node in self.nodes:
            parents = ", ".join(self._graph.parents(node))
            lines.append(f"  {node} := {self._mechanisms[node]!r}" + (f"  <- ({parents})" if parents else ""))
        return "\n".join(lines)
