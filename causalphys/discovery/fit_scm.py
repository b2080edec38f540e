"""A whole SCM from a causal graph and multi-environment data: one learned equation per node.

Each node with parents gets the first-ranked equation of a :class:`~causalphys.discovery.learner.MechanismLearner`
over its parents in the graph, as a :class:`~causalphys.discovery.mechanism.SymbolicMechanism`
(``x = g(pa; θ̂) + u``, ``u ~ N(0, σ̂²)``); each root gets ``cp.mech.Normal`` with the pooled sample mean and standard
deviation (``root_model="normal"``) or ``cp.mech.Empirical``, the pooled values resampled through their quantile
function (``root_model="empirical"``: within the observed range, e.g. for a positive quantity an equation takes a
power of); ``roots=`` gives any root its own mechanism. Every node of the graph must be observed.
The result samples, takes interventions (``cp.Do``, ``scm.do``, ``scm.intervene``) and gives counterfactuals through
the additive noise like any other SCM.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import networkx as nx

from causalphys.discovery.frames import columns_of, environment_labels
from causalphys.discovery.learner import MechanismLearner
from causalphys.errors import CausalPhysError, MechanismError, ParameterError
from causalphys.scm.graph import CausalGraph
from causalphys.scm.mechanism import Mechanism
from causalphys.scm.model import SCM
from causalphys.scm.roots import Empirical, Normal

ROOT_MODELS = ("normal", "empirical")


def fit_scm(
    graph: CausalGraph | nx.DiGraph | list[tuple[str, str]],
    data,
    environment=None,
    *,
    learner: MechanismLearner | None = None,
    roots: Mapping[str, Mechanism] | None = None,
    root_model: str = "normal",
) -> SCM:
    """Fit an SCM over ``graph`` to ``data`` (a DataFrame or ``{node: array}``), module docstring.

    ``environment`` is a column of ``data`` or one label per row (``None``: one environment, equations ranked by BIC
    only); ``learner`` holds the settings (default ``MechanismLearner()``); ``root_model`` is the roots' model,
    ``"normal"`` or ``"empirical"`` (module docstring); ``roots`` overrides it for the roots it names. A node without
    an equation raises :class:`MechanismError` naming it.
    """
    if root_model not in ROOT_MODELS:
        raise ParameterError(f"root_model must be one of {list(ROOT_MODELS)}, got {root_model!r}")
    graph = graph if isinstance(graph, CausalGraph) else CausalGraph(graph)
    learner = MechanismLearner() if learner is None else learner
    roots = dict(roots or {})
    unknown = [k for k in roots if k not in graph or graph.parents(k)]
    if unknown:
        raise ParameterError(f"roots= names {unknown}, which are not root nodes of the graph")
    missing = [k for k in graph.nodes if k not in data]
    if missing:
        raise ParameterError(
            f"the data lack node(s) {missing}: fit_scm needs every node observed (leave latent nodes out of the graph)"
        )
    columns = columns_of(data, list(graph.nodes))
    n = len(columns[graph.nodes[0]])
    env = environment_labels(data, environment, n)
    mechanisms: dict[str, Mechanism] = {}
    for node in graph.nodes:
        parents = list(graph.parents(node))
        if not parents:
            x = columns[node]
            if node in roots:
                mechanisms[node] = roots[node]
            elif root_model == "empirical":
                mechanisms[node] = Empirical(x)
            else:
                mechanisms[node] = Normal(float(x.mean()), float(max(x.std(ddof=1), 1e-12)))
            continue
        try:  # a copy per node: each node's learned state apart, the given learner untouched
            fitted = copy.copy(learner).fit(columns, node, parents, env)
        except CausalPhysError as err:
            raise MechanismError(f"learning the mechanism of node {node!r} failed: {err}", node) from err
        mechanisms[node] = fitted.mechanism(parents=parents)
    return SCM(graph, mechanisms)
