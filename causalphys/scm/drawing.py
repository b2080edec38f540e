"""A picture of a causal graph: nodes in topological layers, coloured by role."""

from __future__ import annotations

import networkx as nx

from causalphys.errors import GraphError

ROLE_COLOURS = {
    "confounder": "#d62728",
    "sample": "#2ca02c",
    "instrument": "#1f77b4",
    "label": "#ff7f0e",
    "other": "#c7c7c7",
}


def draw_graph(graph, ax=None, node_size: int = 1600, font_size: int = 9, legend: bool = True, pos=None):
    """Draw ``graph`` (a :class:`~causalphys.scm.graph.CausalGraph`) left to right by topological generation, or
    at the positions ``pos`` (``{node: (x, y)}`` for every node) — for a layout in which no edge passes through an
    unrelated node.

    Returns the matplotlib axes; nothing is written to disk.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    g = graph.to_networkx()
    for layer, nodes in enumerate(nx.topological_generations(g)):
        for node in nodes:
            g.nodes[node]["layer"] = layer
    if pos is None:
        pos = nx.multipartite_layout(g, subset_key="layer") if len(g) else {}
    else:
        missing = [n for n in g if n not in pos]
        if missing:
            raise GraphError(f"draw: pos has no position for node(s) {missing}")
    if ax is None:
        width = 2.0 + 1.6 * (1 + max((d["layer"] for _, d in g.nodes(data=True)), default=0))
        _, ax = plt.subplots(figsize=(width, 4))
    colours = [ROLE_COLOURS[g.nodes[n]["role"]] for n in g]
    nx.draw_networkx(
        g,
        pos,
        ax=ax,
        node_color=colours,
        node_size=node_size,
        font_size=font_size,
        arrowsize=16,
        edgecolors="black",
        linewidths=0.8,
    )
    if legend:
        used = [r for r in ROLE_COLOURS if any(g.nodes[n]["role"] == r for n in g)]
        ax.legend(handles=[Patch(color=ROLE_COLOURS[r], label=r) for r in used], loc="best", fontsize=8, frameon=False)
    ax.set_axis_off()
    return ax
