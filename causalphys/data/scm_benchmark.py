"""Any structural causal model as a benchmark: environments and shifts are interventions (plain data), inputs and
target are nodes.

:class:`SCMBenchmark` turns an :class:`~causalphys.scm.model.SCM` whose graph marks its instrument nodes (role
``"instrument"``) into :class:`~causalphys.data.benchmark.BenchmarkData`:

- environment ``e`` with ``{"role": "train" | "test", "do": {node: spec}}`` is the SCM under ``do`` (specs as
  :meth:`SCM.intervene <causalphys.scm.model.SCM.intervene>` reads them); shifts (``causalphys.evaluation.shifts``,
  e.g. ``Interventions``) add test environments, each level's units drawn with common random numbers;
- ``x`` is the ``inputs`` node(s) by per-unit shape (:func:`~causalphys.data.tensors.input_tensor`: scalar
  ``(n, 1)``, vector ``(n, d)``, image ``(n, 1, h, w)`` standardised per image), ``y`` the ``target`` node;
- **oracle** (:func:`cut_instrument_parents`): in the training environments every edge ``p -> i`` from a
  non-instrument node ``p`` into an instrument node ``i`` is redirected to an independent copy ``p~oracle`` of ``p``
  (the copy and its ancestors are re-drawn with their own noise, so ``p~oracle`` has ``p``'s marginal in that
  environment). The instrument nodes then depend on nothing but other instrument nodes and the copies, so every
  node that is not a descendant of an instrument node — the label, unless an instrument causes it — is independent
  of every instrument node. Test environments are unchanged.
- **counterfactual views** (:meth:`SCMBenchmark.counterfactual_batches`): ``n_counterfactual`` fresh units ``U`` of
  training environment ``e`` (noise recorded); view ``j`` (one per training environment ``s_j``, two draws of ``e``
  when it is the only one) is ``U`` under ``do(I := I^(j))``, where ``I`` are all instrument nodes and ``I^(j)`` their
  values in an independent draw of environment ``s_j`` (one draw per unit: the instrument as environment ``s_j`` has
  it). Every other node keeps its exogenous noise, so nodes that do not descend from an instrument node are the
  same in every view: the harness's ``cf_flip_rate`` (``cf_change``) is how often (how much) the prediction moves
  when only the instrument changes.
- **pairs** (``n_pairs``): the same construction on further units, with the noise of every non-instrument
  descendant of an instrument node (the measurement: detector noise, ...) re-drawn per view — the same sample
  measured again in a new session, for learners of content from pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from causalphys import checks
from causalphys.data.benchmark import (
    ENVIRONMENT_ROLES,
    PER_UNIT_TASKS,
    Benchmark,
    BenchmarkData,
    DataRequest,
    EnvironmentInfo,
    Shift,
)
from causalphys.data.tensors import environment_tensors, input_tensor
from causalphys.errors import CausalPhysError, ParameterError
from causalphys.scm.batch import Batch
from causalphys.scm.environments import Environments
from causalphys.scm.interventions import Do
from causalphys.scm.model import SCM
from causalphys.scm.oracle import cut_instrument_parents
from causalphys.seeding import derive_seed, make_generator

ENVIRONMENT_KEYS = ("role", "do")
Progress = Callable[[str, int, int], None]


def describe_interventions(spec: Mapping[str, object]) -> str:
    """A readable line for ``{node: spec}``: ``do(a := 1), b += 0.5, c *= 2, d := Normal``."""
    parts = []
    for node, value in spec.items():
        if isinstance(value, Mapping) and len(value) == 1:
            key, inner = next(iter(value.items()))
            text = {"do": f"do({node} := {inner})", "shift": f"{node} += {inner}", "scale": f"{node} *= {inner}"}
            parts.append(text.get(key, f"{node} := {key} {type(inner).__name__}"))
        elif isinstance(value, (bool, int, float)):
            parts.append(f"do({node} := {value:g})")
        elif isinstance(value, torch.Tensor):
            parts.append(f"do({node} := tensor{tuple(value.shape)})")
        else:
            parts.append(f"{node} := {type(value).__name__}")
    return ", ".join(parts) or "observational"


class SCMBenchmark(Benchmark):
    """A benchmark over any SCM (module docstring for the oracle, counterfactual views and pairs).

    ``scm``: an :class:`~causalphys.scm.model.SCM` (in yaml: ``scm: {_target_: my_module.make_scm, ...}``, a
    function returning one). ``environments``: ``{name: {"role": "train" | "test", "do": {node: spec}}}``; ``inputs``:
    a node, or a list of scalar/vector nodes concatenated feature-wise; ``target``: a node (class labels ``0, 1, ...``
    for ``task="classification"``, a scalar or vector for ``"regression"``). ``shifts``: more test environments
    (objects of :mod:`causalphys.evaluation.shifts`; this benchmark is their context: :attr:`nodes` and
    :meth:`base_interventions`). Each training environment gives ``n_train + n_val`` units (the last ``n_val`` for
    validation), each test environment ``n_test``, drawn in chunks of ``chunk``. ``oracle``: training environments
    from :func:`cut_instrument_parents`. ``n_counterfactual``, ``n_pairs``: units per training environment for
    counterfactual views and pairs (0: none). :meth:`check` validates every key before any sampling.
    """

    def __init__(
        self,
        scm: SCM,
        environments: Mapping[str, Mapping[str, object]],
        inputs: str | Sequence[str],
        target: str,
        task: str = "classification",
        shifts: Mapping[str, Shift] | Sequence[Shift] = (),
        oracle: bool = False,
        n_train: int = 5000,
        n_val: int = 1000,
        n_test: int = 2000,
        n_counterfactual: int = 1000,
        n_pairs: int = 0,
        chunk: int = 1000,
        name: str = "scm",
    ):
        self.scm = scm
        self.environment_specs = environments
        self.inputs = inputs
        self.target = target
        self.task = task
        self.shifts = shifts
        self.oracle = oracle
        self.n_train, self.n_val, self.n_test = n_train, n_val, n_test
        self.n_counterfactual, self.n_pairs = n_counterfactual, n_pairs
        self.chunk = chunk
        self.name = name

    # -- validation and the shift context ------------------------------------------------------------------------
    @property
    def nodes(self) -> tuple[str, ...]:
        """The SCM's nodes (what a shift may intervene on)."""
        return self.scm.nodes

    def base_interventions(self, name: str) -> dict[str, object]:
        """The ``do`` of environment ``name`` (what a shift's ``base`` starts from)."""
        if not isinstance(self.environment_specs, Mapping) or name not in self.environment_specs:
            raise ParameterError(f"unknown environment {name!r}; environments are {list(self.environment_specs)}")
        return dict(self.environment_specs[name].get("do") or {})

    def _node(self, node: object, key: str) -> None:
        if not isinstance(node, str) or node not in self.scm.graph:
            raise ParameterError(f"{key}: node {node!r} is not in the SCM; nodes are {list(self.scm.nodes)}")

    def _do(self, do: object, key: str) -> None:
        if not isinstance(do, Mapping):
            raise ParameterError(f"{key} must be a mapping {{node: value or spec}}, got {do!r}")
        for node in do:
            self._node(node, key)
        try:
            self.scm.intervene(do)
        except CausalPhysError as err:
            raise ParameterError(f"{key}: {err}") from err

    def requesting(self, request: DataRequest) -> SCMBenchmark:
        """The request's shifts as more test environments and pairs only for a learner of pairs (``n_pairs``, or
        ``n_train / 2`` where it is 0; the other runs skip making them); no views."""
        self.refuse(request, shifts=True, pairs=True)
        if isinstance(self.shifts, Mapping):
            shifts = {**self.shifts, **{shift.name: shift for shift in request.shifts}}
        else:
            shifts = (*self.shifts, *request.shifts)
        n_pairs = (self.n_pairs or self.n_train // 2) if request.needs == "pairs" else 0
        return self.replaced(shifts=shifts, n_pairs=n_pairs)

    def check(self) -> None:
        if not isinstance(self.scm, SCM):
            raise ParameterError(
                "benchmark.scm must be a causalphys SCM (cp.SCM, or what the function named by "
                f"scm: {{_target_: ...}} returns), got {type(self.scm).__name__}: {self.scm!r:.80}"
            )
        checks.choice("benchmark.task", self.task, PER_UNIT_TASKS)
        for key in ("n_train", "n_val", "n_test", "chunk"):
            checks.positive_int(f"benchmark.{key}", getattr(self, key))
        for key in ("n_counterfactual", "n_pairs"):
            checks.nonnegative_int(f"benchmark.{key}", getattr(self, key))
        checks.boolean("benchmark.oracle", self.oracle)
        names = [self.inputs] if isinstance(self.inputs, str) else self.inputs
        if not isinstance(names, (list, tuple)) or not names:
            raise ParameterError(f"benchmark.inputs must be a node or a non-empty list of nodes, got {self.inputs!r}")
        for node in names:
            self._node(node, "benchmark.inputs")
            shape = self.scm.mechanisms[node].shape  # declared by the mechanism, or None (then checked when drawn)
            if shape is not None and len(shape) > (2 if isinstance(self.inputs, str) else 1):
                raise ParameterError(
                    f"benchmark.inputs: node {node!r} has per-unit shape {tuple(shape)}; inputs are scalars, vectors "
                    "(several are concatenated) or one image node"
                )
        self._node(self.target, "benchmark.target")
        if self.target in names:
            raise ParameterError(f"benchmark.target {self.target!r} is also one of benchmark.inputs {list(names)}")
        specs = self.environment_specs
        if not isinstance(specs, Mapping) or not specs:
            raise ParameterError(f"benchmark.environments must map names to {{role, do}}, got {specs!r}")
        for env, spec in specs.items():
            key = f"benchmark.environments.{env}"
            if not isinstance(spec, Mapping):
                raise ParameterError(f"{key} must be a mapping with keys {list(ENVIRONMENT_KEYS)}, got {spec!r}")
            unknown = sorted(set(spec) - set(ENVIRONMENT_KEYS))
            if unknown:
                raise ParameterError(f"{key}: unknown key(s) {unknown}; allowed: {list(ENVIRONMENT_KEYS)}")
            if spec.get("role") not in ENVIRONMENT_ROLES:
                raise ParameterError(f"{key}.role must be one of {list(ENVIRONMENT_ROLES)}, got {spec.get('role')!r}")
            self._do(spec.get("do") or {}, f"{key}.do")
        if not any(spec["role"] == "train" for spec in specs.values()):
            roles = {env: spec["role"] for env, spec in specs.items()}
            raise ParameterError(f"benchmark.environments needs an environment with role 'train'; roles: {roles}")
        wanted = [k for k in ("oracle", "n_counterfactual", "n_pairs") if getattr(self, k)]
        if wanted and not self.scm.graph.nodes_with_role("instrument"):
            raise ParameterError(
                f"benchmark.{wanted[0]}: the SCM has no node with role 'instrument' (the oracle and counterfactual "
                "views change the instrument nodes): give them that role, CausalGraph(edges, roles={node: "
                "'instrument'}), or set benchmark.oracle=false, n_counterfactual=0, n_pairs=0"
            )
        self._check_shifts()

    def _check_shifts(self) -> None:
        given = self.shifts.items() if isinstance(self.shifts, Mapping) else enumerate(self.shifts)
        self._shift_envs: dict[str, tuple[dict, EnvironmentInfo]] = {}
        for key, shift in given:
            if not isinstance(shift, Shift):
                raise ParameterError(
                    f"benchmark.shifts.{key} must be a shift (causalphys.evaluation.shifts, e.g. Interventions), "
                    f"got {type(shift).__name__}"
                )
            try:
                envs = shift.environments(self)
            except AttributeError as err:
                if getattr(err, "obj", None) is not self:
                    raise
                raise ParameterError(
                    f"shift {shift.name!r} asks the benchmark for {err.name!r}, which an SCMBenchmark does not have: "
                    "it offers nodes and base_interventions(name) (use causalphys.evaluation.shifts.Interventions)"
                ) from err
            except CausalPhysError as err:
                raise ParameterError(f"shift {shift.name!r}: {err}") from err
            clash = sorted(set(envs) & (set(self._shift_envs) | set(self.environment_specs)))
            if clash:
                raise ParameterError(f"shift {shift.name!r} makes environment(s) {clash}, which already exist")
            for env, (spec, _) in envs.items():
                self._do(spec, f"shift {shift.name!r}, environment {env!r}")
            self._shift_envs.update({env: (dict(spec), info) for env, (spec, info) in envs.items()})

    # -- data ----------------------------------------------------------------------------------------------------
    def environments(self) -> tuple[Mapping[str, SCM], Mapping[str, SCM], dict[str, EnvironmentInfo]]:
        """``(training environments, test environments, info)``, each ``{name: SCM}``; the training ones are
        :func:`cut_instrument_parents` of each environment's SCM when ``oracle`` is set."""
        self.check()
        do = {env: dict(spec.get("do") or {}) for env, spec in self.environment_specs.items()}
        roles = {env: spec["role"] for env, spec in self.environment_specs.items()}
        info = {}
        for env in do:
            text = describe_interventions(do[env])
            if self.oracle and roles[env] == "train":
                text += " (oracle: the instrument nodes see independent copies of their other parents)"
            info[env] = EnvironmentInfo(roles[env], None, None, text)
        train = Environments(self.scm, {env: do[env] for env in do if roles[env] == "train"})
        tests = {env: do[env] for env in do if roles[env] == "test"}
        tests.update({env: spec for env, (spec, _) in self._shift_envs.items()})
        info.update({env: env_info for env, (_, env_info) in self._shift_envs.items()})
        test = Environments(self.scm, tests) if tests else {}
        if self.oracle:
            return {env: cut_instrument_parents(scm) for env, scm in train.items()}, test, info
        return train, test, info

    def load(self, seed: int, *, progress: bool | Progress = False) -> BenchmarkData:
        train_envs, test_envs, info = self.environments()
        report = progress if callable(progress) else None
        n_fit = self.n_train + self.n_val
        settings = {"inputs": self.inputs, "target": self.target, "classification": False, "chunk": self.chunk}
        train = environment_tensors(
            train_envs, n_fit, seed=seed, on_chunk=report and (lambda e, k: report(e, k, n_fit)), **settings
        )
        test = environment_tensors(  # a shift's levels share their units (common random numbers)
            test_envs,
            self.n_test,
            seed=seed,
            on_chunk=report and (lambda e, k: report(e, k, self.n_test)),
            streams={env: f"shift:{i.shift}" for env, i in info.items() if i.shift is not None},
            **settings,
        )
        train = {env: (x, self._labels(y, env)) for env, (x, y) in train.items()}
        test = {env: (x, self._labels(y, env)) for env, (x, y) in test.items()}
        views = {}
        for key, n, session in (("counterfactual", self.n_counterfactual, False), ("pairs", self.n_pairs, True)):
            views[key] = {env: self._views(train_envs, env, seed, n, key, session) for env in train_envs} if n else {}
        return BenchmarkData(
            train={k: (x[: self.n_train], y[: self.n_train]) for k, (x, y) in train.items()},
            val={k: (x[self.n_train :], y[self.n_train :]) for k, (x, y) in train.items()},
            test=test,
            info=info,
            task=self.task,
            counterfactual=views["counterfactual"],
            pairs=views["pairs"],
        )

    def _labels(self, y: torch.Tensor, env: str) -> torch.Tensor:
        """``y`` checked against the task: class labels ``0, 1, ...`` as ``long`` ``(n,)``; regression ``(n,)`` or
        ``(n, k)`` floats."""
        where = f"benchmark.target: node {self.target!r} (environment {env!r})"
        if self.task == "regression":
            if y.dim() > 2:
                raise ParameterError(f"{where} has per-unit shape {tuple(y.shape[1:])}; a target is a scalar or vector")
            return y
        if y.dim() != 1:
            raise ParameterError(f"{where} has per-unit shape {tuple(y.shape[1:])}; class labels are scalars")
        bad = (y != y.round()) | (y < 0)
        if bool(bad.any()):
            raise ParameterError(
                f"{where} has values that are not class labels 0, 1, ... (e.g. {float(y[bad][0]):g}); use "
                "task: regression, or a node of whole numbers"
            )
        return y.long()

    def counterfactual_batches(
        self,
        envs: Mapping[str, SCM],
        env: str,
        seed: int,
        n: int,
        *,
        stream: str = "counterfactual",
        session: bool = False,
        nodes: Sequence[str] | None = None,
    ) -> list[Batch]:
        """The views of ``n`` fresh units of training environment ``env`` of ``envs`` (module docstring; chunk ``k``
        of the units drawn with ``derive_seed(seed, stream, env, k)``; ``session``: the measurement's noise
        re-drawn, as for pairs): one :class:`Batch` of ``nodes`` (default: every node) per view."""
        views: list[list[dict]] = []
        for k, start in enumerate(range(0, n, self.chunk)):
            chunk = self._view_chunk(envs, env, seed, k, min(self.chunk, n - start), stream, session)
            views = views or [[] for _ in chunk]
            for parts, batch in zip(views, chunk):
                parts.append({node: batch[node] for node in (batch if nodes is None else nodes)})
        return [Batch({node: torch.cat([p[node] for p in parts]) for node in parts[0]}) for parts in views]

    def _views(self, envs, env, seed, n, stream, session) -> list[torch.Tensor]:
        names = [self.inputs] if isinstance(self.inputs, str) else list(self.inputs)
        batches = self.counterfactual_batches(envs, env, seed, n, stream=stream, session=session, nodes=names)
        return [input_tensor(batch, self.inputs) for batch in batches]

    def _view_chunk(self, envs, env, seed, k, size, stream, session) -> list[Batch]:
        scm = envs[env]
        instruments = scm.graph.nodes_with_role("instrument")
        sources = list(envs)
        units = scm.sample(size, seed=derive_seed(seed, stream, env, k), return_noise=True)
        measured = set().union(*(scm.graph.descendants(i) for i in instruments)) - set(instruments)
        views = []
        for j in range(max(2, len(sources))):
            state = envs[sources[j % len(sources)]].sample(
                size, seed=derive_seed(seed, stream, env, k, "instrument", j), nodes=instruments
            )
            noise = None
            if session:  # a new session: the measurement's noise re-drawn, the sample's kept
                generator = make_generator(derive_seed(seed, stream, env, k, "session", j))
                noise = dict(units.noise)
                for node in scm.nodes:
                    mechanism = scm.mechanisms[node]
                    if node in measured and mechanism.noise is not None:
                        noise[node] = mechanism.sample_noise(size, generator, torch.device("cpu"), torch.float32)
            do = {i: Do(state[i], per_unit=True) for i in instruments}
            views.append(scm.counterfactual(units, do, noise=noise))
        return views
