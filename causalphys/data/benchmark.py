"""What the harness needs from a benchmark: training environments (with a validation part), test environments,
and — where an SCM generated the data — counterfactual pairs of the validation units.

A benchmark is configured in ``conf/benchmark/`` and built by ``hydra.utils.instantiate``; its :meth:`load` returns
plain tensors, so the harness neither knows nor cares whether the data came from an SCM, MNIST or a CSV file.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

from causalphys import checks
from causalphys.errors import ParameterError

Split = tuple[torch.Tensor, torch.Tensor]
ENVIRONMENT_ROLES = ("train", "test")
PER_UNIT_TASKS = ("classification", "regression")
"""Tasks with one target per unit: a class label, or a float (or vector of floats) to regress."""
LEARNING_TASKS = (*PER_UNIT_TASKS, "dense")
"""Every task a benchmark's data can pose (:attr:`BenchmarkData.task`) and a trainer can learn: the per-unit tasks
and ``dense``, a map ``(K, H, W)`` per unit."""


@dataclass(frozen=True)
class EnvironmentInfo:
    """What an environment is: ``role`` ("train" or "test"), and for a shifted test environment the ``shift`` that
    made it and its ``level`` (severity, or the value of the shifted parameter), plus a readable ``description``
    of its interventions and, where the level axis is not a single parameter, ``axis``: what moves along it (the
    severity plot prints it under its panels)."""

    role: str
    shift: str | None = None
    level: float | None = None
    description: str = ""
    axis: str = ""

    def __post_init__(self):
        if self.role not in ENVIRONMENT_ROLES:
            raise ParameterError(f"environment role must be one of {list(ENVIRONMENT_ROLES)}, got {self.role!r}")

    def to_dict(self) -> dict:
        return {
            "role": self.role,
            "shift": self.shift,
            "level": self.level,
            "description": self.description,
            "axis": self.axis,
        }


@dataclass
class BenchmarkData:
    """One seed's data of a benchmark.

    - ``train[e]``, ``val[e]``: the training portion and the held-out (validation) portion of training environment
      ``e``, each ``(x, y)`` with ``x`` ``(n, *input_shape)`` and ``y`` ``(n,)`` (``long`` class labels) or
      ``(n,)``/``(n, k)`` float regression targets, or maps ``(n, K, H, W)`` for a dense task.
    - ``test[e]``: every unit of test environment ``e`` (the harness splits off the oracle's part).
    - ``info[e]``: an :class:`EnvironmentInfo` for every environment above.
    - ``counterfactual[e]``: a list of inputs ``x_j`` ``(m, *input_shape)``, the same ``m`` units re-generated
      under each of the counterfactual interventions — for a training environment its validation-like units (e.g.
      imaged by each of the lab's scanners), for a test environment its own units and their source (a recorded
      environment and the same tiles re-imaged); empty when the benchmark has no SCM behind it.
    - ``pairs[e]``: for training environment ``e``, views ``x_j`` ``(m, *input_shape)`` of ``m`` further units, each
      re-generated under each of the counterfactual interventions in a new session (the same specimens imaged again
      by each of the lab's scanners) — training data for learners of content from pairs; empty unless asked for.
    - ``views[e]``: for training environment ``e``, ``(x, y)`` with ``x`` ``(m, k, *input_shape)``: ``m`` labelled
      units each seen under ``k`` instruments (re-imaged in new sessions, e.g. under instruments drawn from a
      physics prior) and ``y`` ``(m,)`` their labels — training data for the physics learners; empty unless asked
      for.
    - ``n_classes``: the number of classes, where the benchmark names them (a benchmark to score a model on may
      hold fewer classes than the model predicts); ``None``: the labels tell.
    - ``map_metrics``: for a dense task, the benchmark's own scores of predicted maps against the true ones,
      ``{"function": "package.module.function", **keyword arguments}`` (plain values, so that the data cache keeps
      them): the harness adds ``function(prediction, y, **kwargs)``'s ``{metric: value}`` to the maps' ``mse``;
      e.g. the columns found in column maps, in Å and pm (:func:`causalphys.microscopy.columns.column_metrics`,
      with ``pixel_size``). ``None``: ``mse`` only.

    A benchmark without training environments only scores models (``causalphys evaluate``); training needs one.
    """

    train: dict[str, Split]
    val: dict[str, Split]
    test: dict[str, Split]
    info: dict[str, EnvironmentInfo]
    task: str = "classification"
    counterfactual: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    pairs: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    n_classes: int | None = None
    views: dict[str, Split] = field(default_factory=dict)
    map_metrics: dict[str, object] | None = None

    def __post_init__(self):
        if not self.train and not self.test:
            raise ParameterError("a benchmark needs at least one environment")
        if set(self.val) != set(self.train):
            raise ParameterError(
                f"validation environments {sorted(self.val)} differ from training environments {sorted(self.train)}"
            )
        overlap = set(self.train) & set(self.test)
        if overlap:
            raise ParameterError(f"environments {sorted(overlap)} are both training and test environments")
        missing = [e for e in (*self.train, *self.test) if e not in self.info]
        if missing:
            raise ParameterError(f"no EnvironmentInfo for environment(s) {missing}")
        shapes = {e: tuple(x.shape[1:]) for e, (x, _) in {**self.train, **self.val, **self.test}.items()}
        if len(set(shapes.values())) > 1:
            raise ParameterError(f"environments have different input shapes: {shapes}")
        for e, (x, y) in self.views.items():
            if e not in self.train:
                raise ParameterError(f"views given for {e!r}, which is not a training environment")
            if x.dim() < 3 or tuple(x.shape[2:]) != shapes[e] or len(x) != len(y):
                raise ParameterError(
                    f"views of {e!r}: x must be (m, k, *input_shape) with m labels, got {tuple(x.shape)} for input "
                    f"shape {shapes[e]} and {len(y)} labels"
                )
        for kind, given in (("counterfactual", self.counterfactual), ("pairs", self.pairs)):
            for e, views in given.items():
                if e not in self.train and (kind == "pairs" or e not in self.test):
                    kinds = "a training environment" if kind == "pairs" else "an environment of the benchmark"
                    raise ParameterError(f"{kind} views given for {e!r}, which is not {kinds}")
                if len(views) < 2 or len({tuple(v.shape) for v in views}) != 1:
                    raise ParameterError(
                        f"{kind} views of {e!r} must be >= 2 tensors of one shape, got "
                        f"{[tuple(v.shape) for v in views]}"
                    )
        if self.map_metrics is not None:
            if self.task != "dense" or not isinstance(self.map_metrics, Mapping):
                raise ParameterError(
                    f"map_metrics must be a mapping {{'function': dotted path, **kwargs}} of a dense task, got "
                    f"{self.map_metrics!r} for task {self.task!r}"
                )
            checks.function(self.map_metrics.get("function"), "map_metrics.function")
        if self.task == "classification" and self.train:
            known = self.n_outputs
            for e, (_, y) in self.test.items():
                unseen = sorted({int(v) for v in y.unique().tolist() if v >= known})
                if unseen:
                    raise ParameterError(
                        f"class(es) {unseen} of test environment {e!r} occur in no training environment (the training "
                        f"labels are 0..{known - 1}): a model trained here cannot predict them"
                    )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(next(iter({**self.train, **self.test}.values()))[0].shape[1:])

    @property
    def n_outputs(self) -> int:
        """Classes (classification: ``n_classes`` where the benchmark names them, else the largest label of the
        training data + 1) or target dimension (regression)."""
        if self.task == "classification" and self.n_classes is not None:
            return int(self.n_classes)
        ys = [y for _, y in (*self.train.values(), *self.val.values())] or [y for _, y in self.test.values()]
        if self.task == "classification":
            return int(max(int(y.max()) for y in ys if y.numel()) + 1)
        y = ys[0]
        return 1 if y.dim() == 1 else int(y.shape[1])


@runtime_checkable
class Shift(Protocol):
    """What a benchmark needs from a shift (:class:`causalphys.evaluation.shifts.DistributionShift`)."""

    name: str

    def environments(self, ctx) -> Mapping[str, tuple[Mapping[str, object], EnvironmentInfo]]: ...


def check_levels(levels: Sequence[float], key: str = "levels") -> tuple[float, ...]:
    """``levels`` as floats: a non-empty list of finite numbers (errors name ``key``)."""
    if isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence) or not levels:
        raise ParameterError(f"{key} must be a non-empty list of numbers, got {levels!r}")
    bad = [v for v in levels if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)]
    if bad:
        raise ParameterError(f"{key} must be finite numbers, got {bad}")
    return tuple(float(v) for v in levels)


class DistributionShift:
    """Base class of a shift (:class:`Shift`): ``name`` and :meth:`environments` (``ctx``: the benchmark, as the
    context protocol each shift names: :class:`~causalphys.evaluation.shifts.NodeContext`,
    :class:`~causalphys.evaluation.shifts.InterventionContext`, :class:`~causalphys.microscopy.shifts.ShiftContext`).
    Beside the data layer's :class:`Shift` protocol, so that the physics (``causalphys.microscopy``) defines its
    shifts without importing ``causalphys.evaluation``."""

    name: str = "shift"

    def environments(self, ctx) -> dict[str, tuple[dict, EnvironmentInfo]]:
        raise NotImplementedError

    def env_name(self, level: float) -> str:
        return f"{self.name}={level:g}"


NEEDS = ("observed", "pairs", "views")


@dataclass(frozen=True)
class DataRequest:
    """What a run asks of a benchmark beyond its own settings (:meth:`Benchmark.requesting`): the harness's one way
    to ask, the same for the built-in, file and user benchmarks.

    - ``shifts``: more test environments, each a shift (:class:`Shift`: ``causalphys.evaluation.shifts``,
      ``conf/shift/``) whose environments the benchmark makes beside its own.
    - ``needs``: what the trainer trains on beside the factual data (its class's
      :meth:`~causalphys.trainers.base.Trainer.data_needs`): ``"observed"`` (nothing more: a benchmark that can
      make pairs or views makes none), ``"pairs"`` (each training unit imaged again in a new session:
      ``BenchmarkData.pairs``) or ``"views"`` (labelled views under other instruments: ``BenchmarkData.views``).
    - ``views``: with ``needs="views"``, the trainer's views settings (``source``, ``prior``, ``per_unit``,
      ``units``: :func:`check_view_settings`).
    """

    shifts: tuple[Shift, ...] = ()
    needs: str = "observed"
    views: Mapping[str, object] | None = None

    def __post_init__(self):
        if self.needs not in NEEDS:
            raise ParameterError(f"a data request's needs must be one of {list(NEEDS)}, got {self.needs!r}")
        if (self.views is not None) != (self.needs == "views"):
            raise ParameterError("a data request gives views settings exactly when it needs views")
        object.__setattr__(self, "shifts", tuple(self.shifts))


class Benchmark:
    """Base class: a named source of :class:`BenchmarkData`. Subclasses store their settings in ``__init__`` and
    build the data in :meth:`load` (deterministic in ``seed``).

    The harness talks to a benchmark through four methods, each documented below: :meth:`check` (the settings,
    before any work), :meth:`requesting` (the same benchmark with what the run asks for: shifts, pairs, views),
    :meth:`data_bytes` and :meth:`fingerprint` (what the data cost and are made from), then :meth:`load`. A user's
    benchmark implements :meth:`load` and, where it can make more than its own data, :meth:`requesting`.
    """

    name: str = "benchmark"
    task: str = "classification"

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        # the constructor's arguments as given, for replaced(); unpickling calls __new__ without them and restores
        # them with the rest of the instance's __dict__
        self._arguments = dict(inspect.signature(cls).bind_partial(*args, **kwargs).arguments)
        return self

    def load(self, seed: int, *, progress: bool = False) -> BenchmarkData:
        raise NotImplementedError

    def check(self) -> None:
        """Validate the settings before any work (errors name the key); the default checks nothing. Builds
        nothing: the data's machinery (an SCM, file reads) is made once, by :meth:`load`."""

    def requesting(self, request: DataRequest) -> Benchmark:
        """This benchmark with what ``request`` asks of it, as a new benchmark (``self`` is not changed). The base
        class makes only its own data: it returns ``self`` for a request of nothing more, and refuses test
        environments from shifts, pairs and views, naming the benchmark. A benchmark that can make them overrides
        this (usually with :meth:`replaced`), and refuses what it cannot with :meth:`refuse`."""
        self.refuse(request)
        return self

    def refuse(self, request: DataRequest, *, shifts: bool = False, pairs: bool = False, views: bool = False) -> None:
        """A :class:`ParameterError` for what ``request`` asks that this benchmark cannot make (``shifts``,
        ``pairs``, ``views``: what it can)."""
        if request.shifts and not shifts:
            raise ParameterError(f"benchmark {self.name!r} takes no shifts; use shift=none")
        if request.needs == "pairs" and not pairs:
            raise ParameterError(
                f"benchmark {self.name!r} makes no counterfactual pairs (each training unit imaged again), which the "
                "trainer learns from: use a benchmark with an SCM behind it (scanner_shift, spectrometer)"
            )
        if request.needs == "views" and not views:
            raise ParameterError(
                f"benchmark {self.name!r} makes no labelled views of its training units (physics learners need a "
                "benchmark with an SCM behind it, e.g. scanner_shift)"
            )

    def requesting_views(self, request: DataRequest) -> Benchmark:
        """:meth:`requesting` for a benchmark whose only extra is views (a ``views`` constructor argument): the
        request's views, and a refusal of shifts and pairs by name."""
        self.refuse(request, views=True)
        return self.replaced(views=request.views) if request.needs == "views" else self

    def replaced(self, **changes) -> Benchmark:
        """A new benchmark of this class, built from the constructor arguments this one was given with
        ``changes`` replacing some of them."""
        return type(self)(**{**self._arguments, **changes})

    def data_bytes(self) -> int | None:
        """An estimate of the bytes the benchmark's data take in memory (its tensors, all splits), or ``None`` where
        it cannot tell before reading. The harness refuses a benchmark that cannot fit before making any data."""
        return None

    def fingerprint(self) -> str:
        """A digest of what the data are made from outside the settings — the bytes of the files a benchmark reads
        — or ``""`` where the settings and the seed fix the data (a simulator). The harness adds it to the data
        cache's key and to the run's hash."""
        return ""


VIEW_KEYS = ("source", "prior", "per_unit", "units")


def view_counts(views: Mapping | None, n_train: int) -> tuple[int, int]:
    """``(units per training environment, views per unit)`` of a benchmark's ``views`` settings (``units`` null:
    ``n_train``; ``per_unit`` 2 by default, and 2 for ``source: scanners``, a lab's two); ``(0, 0)`` without."""
    if views is None:
        return 0, 0
    per_unit = 2 if views.get("source", "prior") == "scanners" else int(views.get("per_unit", 2))
    return int(views.get("units") or n_train), per_unit


def check_view_settings(views: Mapping, sources: Sequence[str], key: str, why: str = "") -> None:
    """A benchmark's ``views`` settings (a physics learner's ``views:`` block): only :data:`VIEW_KEYS`, a ``source``
    among ``sources`` (default ``prior``), a scanner preset as ``prior`` where the source is ``prior``, a positive
    integer ``per_unit`` and ``units`` (or null). Errors name ``key``; ``why`` explains a restricted ``sources``."""
    from causalphys.microscopy.scanners import ScannerPreset

    unknown = sorted(set(views) - set(VIEW_KEYS))
    if unknown:
        raise ParameterError(f"{key}: unknown key(s) {unknown}; allowed: {list(VIEW_KEYS)}")
    source = views.get("source", "prior")
    if source not in sources:
        allowed = " or ".join(repr(s) for s in sources)
        raise ParameterError(f"{key}.source must be {allowed}, got {source!r}{f' ({why})' if why else ''}")
    if source == "prior" and not isinstance(views.get("prior"), ScannerPreset):
        got = type(views.get("prior")).__name__
        raise ParameterError(f"{key}.source=prior needs views.prior, a scanner preset (conf/prior/); got {got}")
    for name, default in (("per_unit", 2), ("units", None)):
        checks.positive_int(f"{key}.{name}", views.get(name, default), none_ok=name == "units")
