"""Held-out comparison of a learned symbolic SCM with DoWhy's auto-assigned ``gcm`` models and plain regressions.

Every method is fitted on the same pooled training data and scored on each held-out environment. Tidy rows
``{run, method, env, node, metric, value}``:

- ``rmse`` for each node with parents: ``sqrt(mean((x - x̂)²))`` on the held-out rows, where ``x̂`` is
  ``symbolic`` (the learned equation ``g(pa; θ̂)`` of :func:`~causalphys.discovery.fit_scm.fit_scm`),
  ``dowhy_gcm`` (the prediction model of ``gcm.auto.assign_causal_mechanisms`` + ``gcm.fit``, on the true parents),
  ``linear_parents`` (least squares on the parents), ``linear_all_others`` and ``boosting_all_others``
  (least squares and scikit-learn's histogram gradient boosting on every other observed node: the non-causal
  predictors that use children and proxies);
- ``wasserstein`` for every node (with ``interventions``): the 1-Wasserstein distance between the node's held-out
  values and samples of the model under the held-out environment's interventions (``symbolic`` and ``dowhy_gcm``
  through :func:`causalphys.from_gcm`), ``n_samples`` units.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx
import numpy as np
import torch
from scipy.stats import wasserstein_distance

from causalphys.discovery.fit_scm import fit_scm
from causalphys.discovery.frames import columns_of
from causalphys.discovery.learner import MechanismLearner
from causalphys.errors import MechanismError, ParameterError
from causalphys.scm.dowhy_bridge import from_gcm, to_gcm
from causalphys.scm.graph import CausalGraph
from causalphys.scm.model import SCM
from causalphys.seeding import derive_seed

METHODS = ("symbolic", "dowhy_gcm", "linear_parents", "linear_all_others", "boosting_all_others")


def predict_given_parents(scm: SCM, data, node: str) -> np.ndarray:
    """The noiseless part ``g(pa)`` of ``node``'s additive mechanism on the parents' values in ``data``, ``(n,)``."""
    mech = scm.mechanisms[node]
    if not hasattr(mech, "predict"):
        raise MechanismError(f"the mechanism of node {node!r} ({mech!r}) is not additive: no prediction g(pa)", node)
    parents = scm.graph.parents(node)
    cols = columns_of(data, [node, *parents])
    n = len(cols[node])
    pred = mech.predict(
        {p: torch.as_tensor(cols[p]) for p in parents}, n=n, device=torch.device("cpu"), dtype=torch.float64
    )
    return np.broadcast_to(pred.numpy(), (n,))


def gcm_predict(causal_model, data, node: str, parents: list[str]) -> np.ndarray:
    """``E[node | parents]`` from a fitted DoWhy additive-noise model: its prediction model on ``data[parents]``."""
    mech = causal_model.causal_mechanism(node)
    model = getattr(mech, "prediction_model", None)
    if model is None:
        raise MechanismError(
            f"DoWhy assigned {type(mech).__name__} to node {node!r}, which has no prediction model (not additive)", node
        )
    from dowhy.graph import get_ordered_predecessors

    order = list(get_ordered_predecessors(causal_model.graph, node))
    x = np.column_stack([np.asarray(data[p], dtype=np.float64) for p in order])
    return np.asarray(model.predict(x), dtype=np.float64).reshape(-1)


def compare_heldout(
    graph: CausalGraph | nx.DiGraph | list[tuple[str, str]],
    train,
    heldout,
    environment: str = "env",
    *,
    interventions: Mapping[str, Mapping[str, object]] | None = None,
    learner: MechanismLearner | None = None,
    quality: str = "good",
    seed: int = 0,
    run: int | str = 0,
    n_samples: int = 2_000,
    n_jobs: int | None = 1,
    threads: int | None = 1,
) -> list[dict]:
    """Fit every method of :data:`METHODS` on ``train`` and score it on ``heldout`` (module docstring).

    ``train`` and ``heldout`` are DataFrames with one column per node and the ``environment`` column;
    ``interventions`` maps held-out environment names to their intervention specs (as for :meth:`SCM.intervene`)
    for the ``wasserstein`` rows; ``quality`` is ``gcm.auto``'s assignment quality; ``seed`` seeds DoWhy, the
    boosting and the samples; ``n_jobs`` is the number of processes of DoWhy's model selection (``None``: all
    cores; one is faster for small tables, where starting worker processes costs more than it saves); ``threads``
    caps the OpenMP and BLAS threads of the scikit-learn fits during the call (``None``: no cap; on a shared machine
    gradient boosting's OpenMP threads can spin-wait for busy cores and run many times slower).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        return _compare(
            graph, train, heldout, environment, interventions, learner, quality, seed, run, n_samples, n_jobs
        )


def _compare(graph, train, heldout, environment, interventions, learner, quality, seed, run, n_samples, n_jobs):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression

    graph = graph if isinstance(graph, CausalGraph) else CausalGraph(graph)
    nodes = list(graph.nodes)
    for name, frame in (("train", train), ("heldout", heldout)):
        missing = [c for c in [*nodes, environment] if c not in frame]
        if missing:
            raise ParameterError(f"{name} lacks column(s) {missing}")
    symbolic = fit_scm(graph, train, environment, learner=learner)
    causal_model = to_gcm(graph, train[nodes], seed=seed, quality=quality, n_jobs=n_jobs)
    children = [k for k in nodes if graph.parents(k)]
    regressions = {}
    for node in children:
        parents, others = list(graph.parents(node)), [k for k in nodes if k != node]
        regressions[node] = {
            "linear_parents": (parents, LinearRegression().fit(train[parents], train[node])),
            "linear_all_others": (others, LinearRegression().fit(train[others], train[node])),
            "boosting_all_others": (
                others,
                HistGradientBoostingRegressor(random_state=seed).fit(train[others], train[node]),
            ),
        }
    rows = []

    def row(method, env, node, metric, value):
        rows.append({"run": run, "method": method, "env": env, "node": node, "metric": metric, "value": float(value)})

    for env in dict.fromkeys(heldout[environment].tolist()):
        test = heldout[heldout[environment] == env]
        for node in children:
            y = test[node].to_numpy(dtype=np.float64)
            preds = {
                "symbolic": predict_given_parents(symbolic, test, node),
                "dowhy_gcm": gcm_predict(causal_model, test, node, list(graph.parents(node))),
            }
            for method, (inputs, model) in regressions[node].items():
                preds[method] = model.predict(test[inputs])
            for method in METHODS:
                row(method, env, node, "rmse", np.sqrt(np.mean((y - preds[method]) ** 2)))
        if interventions is not None and env in interventions:
            gcm_scm = from_gcm(causal_model)
            for method, scm in (("symbolic", symbolic), ("dowhy_gcm", gcm_scm)):
                draw = scm.intervene(interventions[env]).sample(
                    n_samples, seed=derive_seed(seed, "heldout", env), dtype=torch.float64
                )
                for node in nodes:
                    row(method, env, node, "wasserstein", wasserstein_distance(draw[node].numpy(), test[node]))
    return rows
