"""The bridge to DoWhy: effect identification and estimation on an SCM's graph, and conversion to and from
``dowhy.gcm``.

causalphys does not re-implement what DoWhy does. This module only translates: our graph becomes DoWhy's graph
(nodes that are not ``observed`` become latent), our samples become a ``pandas.DataFrame``, and a fitted
``dowhy.gcm`` model becomes an SCM whose mechanisms call DoWhy's, with noise drawn from our explicit generators.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

import networkx as nx
import numpy as np
import torch

from causalphys.errors import CausalPhysError, GraphError, MechanismError
from causalphys.scm.graph import CausalGraph
from causalphys.scm.mechanism import Mechanism
from causalphys.scm.model import SCM
from causalphys.scm.noise import Noise


def _graph_of(model: SCM | CausalGraph) -> CausalGraph:
    if isinstance(model, SCM):
        return model.graph
    if isinstance(model, CausalGraph):
        return model
    raise TypeError(f"expected an SCM or a CausalGraph, got {type(model).__name__}")


def scalar_nodes(scm: SCM) -> list[str]:
    """The nodes of ``scm`` that hold one number per unit (found from a two-unit draw)."""
    probe = scm.sample(2, seed=0)
    return [k for k in scm.nodes if probe[k].dim() == 1]


def _observed(graph: CausalGraph, treatment: str, outcome: str, observed: Iterable[str] | None) -> list[str]:
    for role, node in (("treatment", treatment), ("outcome", outcome)):
        if node not in graph:
            raise GraphError(f"{role} {node!r} is not a node of the graph; nodes are {list(graph.nodes)}")
    observed = list(graph.nodes) if observed is None else list(observed)
    unknown = [n for n in observed if n not in graph]
    if unknown:
        raise GraphError(f"observed node(s) {unknown} are not in the graph; nodes are {list(graph.nodes)}")
    for role, node in (("treatment", treatment), ("outcome", outcome)):
        if node not in observed:
            raise GraphError(f"the {role} {node!r} must be observed")
    return observed


ADJUSTMENT = "efficient-adjustment"
"""DoWhy's backdoor rule we ask for first: the optimal (least-variance) adjustment set of Smucler et al. (2021).

DoWhy's ``"default"`` rule picks among valid sets by iterating over Python sets, so its choice (and the estimate)
changes with ``PYTHONHASHSEED``. Where no efficient set exists (latent confounders), we fall back to
``"maximal-adjustment"``, which still reports front-door and instrumental-variable estimands. Variable lists are
sorted, so the same data give the same numbers in every process."""


def _identify(identify, adjustment: str | None):
    """Run ``identify(method_name)`` with the deterministic fallback described in :data:`ADJUSTMENT`."""
    try:
        estimand = identify(adjustment or ADJUSTMENT)
    except ValueError:
        if adjustment is not None:
            raise
        estimand = identify("maximal-adjustment")
    for name in ("backdoor_variables", "general_adjustment_variables"):
        sets = getattr(estimand, name, None)
        if isinstance(sets, dict):
            setattr(estimand, name, {k: sorted(v) for k, v in sets.items()})
    for name in ("instrumental_variables", "frontdoor_variables", "mediator_variables"):
        value = getattr(estimand, name, None)
        if isinstance(value, list):
            setattr(estimand, name, sorted(value))
    return estimand


def identify_effect(
    model: SCM | CausalGraph,
    treatment: str,
    outcome: str,
    observed: Iterable[str] | None = None,
    adjustment: str | None = None,
):
    """Identify the effect of ``treatment`` on ``outcome`` with DoWhy (backdoor, front-door, instrumental variable).

    Nodes not in ``observed`` (default: all) are latent. ``adjustment`` is a DoWhy backdoor rule (default: see
    :data:`ADJUSTMENT`). Returns DoWhy's ``IdentifiedEstimand``: ``get_backdoor_variables()``,
    ``get_frontdoor_variables()`` and ``get_instrumental_variables()`` name the sets; they are empty where the
    corresponding criterion does not apply.
    """
    from dowhy.causal_identifier import AutoIdentifier, BackdoorAdjustment, EstimandType

    graph = _graph_of(model)
    observed = _observed(graph, treatment, outcome, observed)

    def identify(method: str):
        identifier = AutoIdentifier(
            estimand_type=EstimandType.NONPARAMETRIC_ATE, backdoor_adjustment=BackdoorAdjustment(method)
        )
        return identifier.identify_effect(
            graph=nx.DiGraph(graph.to_networkx()),
            action_nodes=[treatment],
            outcome_nodes=[outcome],
            observed_nodes=observed,
        )

    return _identify(identify, adjustment)


def estimate_effect(
    model: SCM | CausalGraph,
    treatment: str,
    outcome: str,
    *,
    data=None,
    n: int = 10_000,
    seed: int = 0,
    method: str = "backdoor.linear_regression",
    observed: Iterable[str] | None = None,
    adjustment: str | None = None,
    treatment_value: float = 1.0,
    control_value: float = 0.0,
    method_params: dict | None = None,
):
    """Estimate the average effect ``E[outcome | do(treatment = treatment_value)] - E[... control_value]`` with DoWhy.

    ``data`` is a ``pandas.DataFrame`` of the observed nodes; without it, ``n`` units are drawn from the SCM with
    ``seed`` (float64) and ``observed`` defaults to the SCM's scalar nodes (DoWhy cannot hold an image).
    ``method`` is a DoWhy estimator name (``"backdoor.linear_regression"``, ``"frontdoor.two_stage_regression"``,
    ``"iv.instrumental_variable"``, ...); ``adjustment`` as in :func:`identify_effect`. Returns DoWhy's
    ``CausalEstimate`` (``.value``).
    """
    from dowhy import CausalModel

    graph = _graph_of(model)
    if data is None and isinstance(model, SCM) and observed is None:
        observed = scalar_nodes(model)
    observed = _observed(graph, treatment, outcome, observed)
    if data is None:
        if not isinstance(model, SCM):
            raise CausalPhysError("estimate_effect needs data=... when given a graph instead of an SCM")
        data = model.sample(n, seed=seed, dtype=torch.float64, nodes=observed).to_dataframe(observed)
    else:
        missing = [c for c in observed if c not in data.columns]
        if missing:
            raise CausalPhysError(f"data lacks the observed column(s) {missing}")
        data = data[observed]
    logging.getLogger("dowhy").setLevel(logging.WARNING)
    with _quiet():
        causal_model = CausalModel(
            data=data, treatment=treatment, outcome=outcome, graph=nx.DiGraph(graph.to_networkx())
        )
        estimand = _identify(
            lambda m: causal_model.identify_effect(method_name=m, proceed_when_unidentifiable=False), adjustment
        )
        return causal_model.estimate_effect(
            estimand,
            method_name=method,
            treatment_value=treatment_value,
            control_value=control_value,
            method_params=method_params,
        )


@contextlib.contextmanager
def _quiet():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- dowhy.gcm ------------------------------------------------------------------------------------------------
def to_gcm(
    scm: SCM | CausalGraph,
    data=None,
    *,
    n: int = 5_000,
    seed: int = 0,
    quality: str = "good",
    n_jobs: int | None = None,
):
    """Fit a ``dowhy.gcm.InvertibleStructuralCausalModel`` on the SCM's graph (or on a graph) to data with
    ``gcm.auto``.

    ``data`` (a DataFrame with one column per node) defaults to ``n`` units sampled from ``scm`` with ``seed``
    (a graph needs ``data``); every node must be scalar. ``quality`` is ``gcm.auto``'s assignment quality:
    ``"good"``, ``"better"`` or ``"best"``. ``n_jobs`` is the number of processes DoWhy's model selection uses for this
    call (``None``: DoWhy's default, all cores; its global setting is restored after). Returns the fitted DoWhy model.
    """
    from dowhy import gcm
    from dowhy.gcm.auto import AssignmentQuality

    qualities = {"good": AssignmentQuality.GOOD, "better": AssignmentQuality.BETTER, "best": AssignmentQuality.BEST}
    if quality not in qualities:
        raise CausalPhysError(f"quality must be one of {sorted(qualities)}, got {quality!r}")
    graph = _graph_of(scm)
    if data is None:
        if not isinstance(scm, SCM):
            raise CausalPhysError("to_gcm needs data=... when given a graph instead of an SCM")
        data = scm.sample(n, seed=seed, dtype=torch.float64).to_dataframe()
    causal_model = gcm.InvertibleStructuralCausalModel(nx.DiGraph(graph.to_networkx()))
    with _quiet(), _numpy_seeded(seed), _gcm_progress_off(), _gcm_jobs(n_jobs):
        gcm.auto.assign_causal_mechanisms(causal_model, data, quality=qualities[quality])
        gcm.fit(causal_model, data)
    return causal_model


def from_gcm(causal_model, roles: dict[str, str] | None = None) -> SCM:
    """An SCM whose mechanisms are the fitted mechanisms of a ``dowhy.gcm`` causal model.

    Root nodes draw from DoWhy's stochastic models; other nodes evaluate DoWhy's functional causal models on their
    parents and a noise drawn from DoWhy's noise model. Randomness comes from our generators (DoWhy's numpy draws
    run under a seed taken from them, and numpy's global state is restored). Invertible DoWhy mechanisms (additive
    noise, post-nonlinear) stay invertible for counterfactuals.
    """
    from dowhy.graph import get_ordered_predecessors

    graph = CausalGraph(causal_model.graph, roles=roles)
    mechanisms = {}
    for node in graph.nodes:
        try:
            mech = causal_model.causal_mechanism(node)
        except Exception as err:  # DoWhy raises a bare error when nothing was assigned
            raise MechanismError(f"the DoWhy model has no mechanism for node {node!r}: {err}", node) from err
        mechanisms[node] = GCMMechanism(mech, get_ordered_predecessors(causal_model.graph, node))
    return SCM(graph, mechanisms)


@contextlib.contextmanager
def _numpy_seeded(seed: int):
    """Run DoWhy's numpy draws under ``seed`` and leave numpy's global state as it was."""
    # DoWhy draws from numpy's legacy global generator; we seed it for the call and put it back.
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed % (2**32))  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


@contextlib.contextmanager
def _gcm_jobs(n_jobs: int | None):
    """DoWhy's global ``default_n_jobs`` set to ``n_jobs`` for the block (unchanged for ``None``), then restored."""
    from dowhy.gcm import config

    was = config.default_n_jobs
    if n_jobs is not None:
        config.set_default_n_jobs(n_jobs)
    try:
        yield
    finally:
        config.set_default_n_jobs(was)


@contextlib.contextmanager
def _gcm_progress_off():
    from dowhy.gcm import config

    was = config.show_progress_bars
    config.disable_progress_bars()
    try:
        yield
    finally:
        if was:
            config.enable_progress_bars()


class GCMNoise(Noise):
    """Noise drawn by a DoWhy callable ``draw(n) -> array (n, 1)`` under a seed taken from our generator."""

    def __init__(self, draw, label: str):
        self.draw = draw
        self.label = label
        self.shape = ()

    def sample(self, n, generator, device, dtype):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device))
        with _numpy_seeded(seed):
            values = np.asarray(self.draw(n), dtype=np.float64).reshape(n)
        return torch.as_tensor(values, device=device, dtype=dtype)

    def __repr__(self):
        return f"GCMNoise({self.label})"


class GCMMechanism(Mechanism):
    """A DoWhy ``gcm`` mechanism as a causalphys mechanism (scalar nodes; parents in DoWhy's order)."""

    def __init__(self, gcm_mechanism, parents: list[str]):
        from dowhy.gcm.causal_mechanisms import (
            FunctionalCausalModel,
            InvertibleFunctionalCausalModel,
            StochasticModel,
        )

        self.gcm_mechanism = gcm_mechanism
        self.parents = list(parents)
        self.shape = ()
        if isinstance(gcm_mechanism, StochasticModel):
            self.kind = "root"
            self.noise = GCMNoise(gcm_mechanism.draw_samples, str(gcm_mechanism))
            self.invertible = True
        elif isinstance(gcm_mechanism, FunctionalCausalModel):
            self.kind = "functional"
            self.noise = GCMNoise(gcm_mechanism.draw_noise_samples, f"noise of {gcm_mechanism}")
            self.invertible = isinstance(gcm_mechanism, InvertibleFunctionalCausalModel)
        else:
            raise MechanismError(
                f"cannot convert DoWhy mechanism {type(gcm_mechanism).__name__}: only stochastic models and functional "
                "causal models keep their noise apart from their function"
            )

    def parent_names(self):
        return frozenset(self.parents)

    def _parents_array(self, parents, n):
        if not self.parents:
            return np.zeros((n, 0))
        return np.stack([parents[p].detach().cpu().double().numpy() for p in self.parents], axis=1)

    def evaluate(self, parents, u, *, n, device, dtype):
        if self.kind == "root":
            return u
        values = self.gcm_mechanism.evaluate(
            self._parents_array(parents, n), u.detach().cpu().double().numpy().reshape(n, 1)
        )
        return torch.as_tensor(np.asarray(values, dtype=np.float64).reshape(n), device=device, dtype=dtype)

    def invert(self, parents, value):
        if self.kind == "root":
            return value
        if not self.invertible:
            return super().invert(parents, value)
        n = value.shape[0]
        noise = self.gcm_mechanism.estimate_noise(
            value.detach().cpu().double().numpy().reshape(n, 1), self._parents_array(parents, n)
        )
        return torch.as_tensor(np.asarray(noise, dtype=np.float64).reshape(n), device=value.device, dtype=value.dtype)

    def __repr__(self):
        return f"GCMMechanism({self.gcm_mechanism})"
