"""Properties that hold for every SCM, checked on random DAGs with random linear and nonlinear mechanisms."""

import networkx as nx
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import causalphys as cp


@st.composite
def random_scms(draw):
    n_nodes = draw(st.integers(2, 7))
    names = [f"v{i}" for i in range(n_nodes)]
    edges = [(names[i], names[j]) for i in range(n_nodes) for j in range(i + 1, n_nodes) if draw(st.booleans())]
    graph = cp.CausalGraph(edges, nodes=names)
    mechanisms = {}
    for node in names:
        parents = graph.parents(node)
        kind = draw(st.sampled_from(["linear", "mlp"] if parents else ["root"]))
        if kind == "root":
            mechanisms[node] = cp.mech.Normal(draw(st.floats(-2, 2)), draw(st.floats(0.1, 2)))
        elif kind == "linear":
            weights = {p: draw(st.floats(-2, 2)) for p in parents}
            mechanisms[node] = cp.mech.Linear(weights, noise=cp.noise.Normal(0, draw(st.floats(0.1, 2))))
        else:
            mechanisms[node] = cp.mech.MLPMechanism(hidden=(4,), seed=draw(st.integers(0, 100)))
    return cp.SCM(graph, mechanisms)


# derandomize: the same examples on every run (no flaky tests); database=None: nothing written to disk
fast = settings(
    max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@fast
@given(random_scms(), st.integers(0, 2**31), st.data())
def test_do_removes_dependence_on_parents(scm, seed, data):
    target = data.draw(st.sampled_from(scm.nodes))
    new = scm.do({target: 0.5})
    assert new.graph.parents(target) == ()
    for node in scm.nodes:
        if node != target:
            assert new.graph.parents(node) == scm.graph.parents(node)
    b = new.sample(200, seed=seed)
    assert torch.all(b[target] == 0.5)
    # the intervened node is d-separated from its former ancestors
    for a in scm.graph.ancestors(target):
        assert new.graph.is_d_separated(a, target)


@fast
@given(random_scms(), st.integers(0, 2**31), st.data())
def test_counterfactual_under_factual_values_is_the_batch(scm, seed, data):
    target = data.draw(st.sampled_from(scm.nodes))
    b = scm.sample(100, seed=seed, dtype=torch.float64)
    cf = scm.counterfactual(b, do={target: b[target]})
    for node in scm.nodes:
        torch.testing.assert_close(cf[node], b[node])


@fast
@given(random_scms(), st.integers(0, 2**31))
def test_same_seed_same_samples(scm, seed):
    a, b = scm.sample(64, seed=seed), scm.sample(64, seed=seed)
    assert all(torch.equal(a[k], b[k]) for k in scm.nodes)


@fast
@given(random_scms(), st.integers(0, 2**31), st.data())
def test_counterfactual_equals_intervened_sample_with_the_same_seed(scm, seed, data):
    target = data.draw(st.sampled_from(scm.nodes))
    b = scm.sample(64, seed=seed, dtype=torch.float64)
    cf = scm.counterfactual(b, do={target: 1.0})
    same = scm.do({target: 1.0}).sample(64, seed=seed, dtype=torch.float64)
    for node in scm.nodes:
        torch.testing.assert_close(cf[node], same[node])


@fast
@given(random_scms())
def test_graph_is_a_dag_in_topological_order(scm):
    g = scm.graph.to_networkx()
    assert nx.is_directed_acyclic_graph(g)
    position = {n: i for i, n in enumerate(scm.nodes)}
    assert all(position[u] < position[v] for u, v in g.edges)
