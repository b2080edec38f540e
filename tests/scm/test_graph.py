import networkx as nx
import pytest

import causalphys as cp


def lab_graph():
    return cp.CausalGraph(
        [("lab", "scanner"), ("lab", "phase"), ("phase", "label"), ("phase", "signal"), ("scanner", "signal")],
        roles={"lab": "confounder", "scanner": "instrument", "phase": "sample", "label": "label"},
    )


def test_edges_nodes_and_topological_order():
    g = lab_graph()
    assert set(g.nodes) == {"lab", "scanner", "phase", "label", "signal"}
    order = {n: i for i, n in enumerate(g.nodes)}
    for u, v in g.edges:
        assert order[u] < order[v]
    assert g.parents("signal") == ("scanner", "phase")  # first-seen order
    assert g.children("lab") == ("scanner", "phase")
    assert g.ancestors("signal") == {"lab", "scanner", "phase"}
    assert g.descendants("phase") == {"label", "signal"}


def test_roles_default_to_other_and_can_be_queried():
    g = lab_graph()
    assert g.role("lab") == "confounder"
    assert g.role("signal") == "other"
    assert g.nodes_with_role("instrument") == ("scanner",)
    with pytest.raises(cp.GraphError, match="unknown role"):
        g.nodes_with_role("detector")


def test_from_networkx_and_isolated_nodes():
    d = nx.DiGraph([("a", "b")])
    d.add_node("c")
    g = cp.CausalGraph(d, nodes=["e"])
    assert set(g.nodes) == {"a", "b", "c", "e"}
    assert g.to_networkx().nodes["a"]["role"] == "other"


def test_cycle_is_named():
    with pytest.raises(cp.CycleError, match=r"a -> b -> c -> a") as info:
        cp.CausalGraph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    assert info.value.cycle == [("a", "b"), ("b", "c"), ("c", "a")]
    assert isinstance(info.value, ValueError)


def test_self_loop_is_a_cycle():
    with pytest.raises(cp.CycleError, match="x -> x"):
        cp.CausalGraph([("x", "x")])


def test_bad_edges_and_roles():
    with pytest.raises(cp.GraphError, match="edge 1"):
        cp.CausalGraph([("a", "b"), ("a", "b", "c")])
    with pytest.raises(cp.GraphError, match="role of node 'a'"):
        cp.CausalGraph([("a", "b")], roles={"a": "microscope"})
    with pytest.raises(cp.GraphError, match="unknown node 'z' in roles"):
        cp.CausalGraph([("a", "b")], roles={"z": "label"})
    with pytest.raises(cp.GraphError, match="unknown node 'q'"):
        lab_graph().parents("q")


def test_d_separation_chain_fork_collider():
    g = cp.CausalGraph([("a", "b"), ("b", "c"), ("b", "d"), ("e", "f"), ("c", "f")])
    assert not g.is_d_separated("a", "c")
    assert g.is_d_separated("a", "c", given="b")  # chain blocked
    assert g.is_d_separated("c", "d", given="b")  # fork blocked
    assert g.is_d_separated("a", "e")  # collider f closed
    assert not g.is_d_separated("a", "e", given="f")  # conditioning on the collider opens it


def test_lab_confounds_scanner_and_phase():
    g = lab_graph()
    assert not g.is_d_separated("scanner", "label")
    assert g.is_d_separated("scanner", "label", given=["lab"])
    assert g.is_d_separated("scanner", "label", given=["phase"])


def test_mutilated_graph_keeps_nodes_and_roles():
    g = lab_graph()
    m = g.without_edges_into(["scanner"])
    assert m.parents("scanner") == ()
    assert m.role("scanner") == "instrument"
    assert set(m.nodes) == set(g.nodes)
    assert g.parents("scanner") == ("lab",)  # the original is untouched
    with pytest.raises(cp.GraphError, match="not in the graph"):
        g.without_edges([("label", "lab")])


def test_draw_colours_roles():
    ax = lab_graph().draw()
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert labels == {"confounder", "sample", "instrument", "label", "other"}
    import matplotlib.pyplot as plt

    plt.close("all")


def test_draw_takes_positions_and_names_a_node_without_one():
    import matplotlib.pyplot as plt

    g = lab_graph()
    pos = {n: (i, i % 2) for i, n in enumerate(g.nodes)}
    ax = g.draw(pos=pos)
    offsets = [tuple(c.get_offsets()[0]) for c in ax.collections[:1]]
    assert offsets and offsets[0] == pos[g.nodes[0]]
    first = g.nodes[0]
    del pos[first]
    with pytest.raises(cp.GraphError, match=f"no position for node.*{first}"):
        g.draw(pos=pos)
    plt.close("all")
