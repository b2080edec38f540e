"""Causal graphs: a DAG of named nodes with optional roles, ``networkx`` underneath."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import networkx as nx

from causalphys.errors import CycleError, GraphError

NODE_ROLES = ("confounder", "sample", "instrument", "label", "other")
"""The node roles: a confounder (the lab), the sample's physics, the instrument, the label, anything else."""


class CausalGraph:
    """A directed acyclic graph of named nodes.

    Parameters
    ----------
    edges : iterable of ``(cause, effect)`` pairs, or a ``networkx.DiGraph`` (copied)
    nodes : extra nodes without edges (isolated nodes)
    roles : ``{node: role}`` with roles from :data:`NODE_ROLES`; unnamed nodes get ``"other"``

    Nodes are iterated in a topological order; parents and children are listed in the order in which the nodes
    first appeared (in the edges, then ``nodes``), the same in every graph derived from this one.
    """

    def __init__(
        self,
        edges: Iterable[tuple[str, str]] | nx.DiGraph = (),
        nodes: Iterable[str] = (),
        roles: Mapping[str, str] | None = None,
    ):
        g = nx.DiGraph()
        if isinstance(edges, nx.DiGraph):
            g.add_nodes_from(edges.nodes)
            g.add_edges_from(edges.edges)
        else:
            for i, edge in enumerate(edges):
                if isinstance(edge, str) or len(edge) != 2:
                    raise GraphError(f"edge {i} must be a (cause, effect) pair, got {edge!r}")
                g.add_edge(*edge)
        g.add_nodes_from(nodes)
        loops = list(nx.selfloop_edges(g))
        if loops:
            raise CycleError([loops[0]])
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            raise CycleError([(u, v) for u, v, *_ in cycle])
        self._g = g
        self._index = {node: i for i, node in enumerate(g.nodes)}  # first-seen order: parents are listed in it
        self._order = tuple(nx.topological_sort(g))
        self._roles = {node: "other" for node in self._order}
        for node, role in (roles or {}).items():
            self._check_node(node, "roles")
            if role not in NODE_ROLES:
                raise GraphError(f"role of node {node!r} must be one of {list(NODE_ROLES)}, got {role!r}")
            self._roles[node] = role

    # -- queries ---------------------------------------------------------------------------------------------
    @property
    def nodes(self) -> tuple[str, ...]:
        """All nodes, in topological order."""
        return self._order

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        return tuple(self._g.edges)

    @property
    def roles(self) -> dict[str, str]:
        """``{node: role}`` for every node."""
        return dict(self._roles)

    def role(self, node: str) -> str:
        self._check_node(node)
        return self._roles[node]

    def nodes_with_role(self, role: str) -> tuple[str, ...]:
        if role not in NODE_ROLES:
            raise GraphError(f"unknown role {role!r}; roles are {list(NODE_ROLES)}")
        return tuple(n for n in self._order if self._roles[n] == role)

    def parents(self, node: str) -> tuple[str, ...]:
        self._check_node(node)
        return tuple(sorted(self._g.predecessors(node), key=self._index.__getitem__))

    def children(self, node: str) -> tuple[str, ...]:
        self._check_node(node)
        return tuple(sorted(self._g.successors(node), key=self._index.__getitem__))

    def ancestors(self, node: str) -> set[str]:
        self._check_node(node)
        return nx.ancestors(self._g, node)

    def descendants(self, node: str) -> set[str]:
        self._check_node(node)
        return nx.descendants(self._g, node)

    def is_d_separated(self, x: str | Iterable[str], y: str | Iterable[str], given: str | Iterable[str] = ()) -> bool:
        """Whether the node sets ``x`` and ``y`` are d-separated given ``given``."""
        xs, ys, zs = (self._node_set(s) for s in (x, y, given))
        return nx.is_d_separator(self._g, xs, ys, zs)

    # -- derived graphs ---------------------------------------------------------------------------------------
    def without_edges_into(self, nodes: Iterable[str]) -> CausalGraph:
        """The mutilated graph of a hard intervention: every edge into ``nodes`` removed."""
        targets = self._node_set(nodes)
        return self.without_edges([(p, t) for t in targets for p in self._g.predecessors(t)])

    def without_edges(self, edges: Iterable[tuple[str, str]]) -> CausalGraph:
        """A copy of the graph without ``edges`` (nodes and roles kept)."""
        drop = set(edges)
        missing = drop - set(self._g.edges)
        if missing:
            raise GraphError(f"cannot remove edges that are not in the graph: {sorted(missing)}")
        g = self._g.copy()
        g.remove_edges_from(drop)
        return CausalGraph(g, roles=self._roles)

    def to_networkx(self) -> nx.DiGraph:
        """A copy as a ``networkx.DiGraph``; each node carries its ``role`` attribute."""
        g = self._g.copy()
        nx.set_node_attributes(g, self._roles, "role")
        return g

    def draw(self, ax=None, **kwargs):
        """Draw the graph with nodes coloured by role (matplotlib); returns the axes. See :func:`draw_graph`."""
        from causalphys.scm.drawing import draw_graph

        return draw_graph(self, ax=ax, **kwargs)

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _check_node(self, node: str, where: str = "") -> None:
        if node not in self._g:
            ctx = f" in {where}" if where else ""
            raise GraphError(f"unknown node {node!r}{ctx}; the graph's nodes are {list(self._order)}")

    def _node_set(self, nodes: str | Iterable[str]) -> set[str]:
        nodes = [nodes] if isinstance(nodes, str) else list(nodes)
        for node in nodes:
            self._check_node(node)
        return set(nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._g

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CausalGraph)
            and set(self._g.edges) == set(other._g.edges)
            and set(self._order) == set(other._order)
            and self._roles == other._roles
        )

    def __repr__(self) -> str:
        return f"CausalGraph({len(self)} nodes, {self._g.number_of_edges()} edges: {list(self._g.edges)})"
