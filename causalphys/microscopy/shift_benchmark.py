"""The scanner-shift benchmark of the harness: phase (or defect) classification from ADF images of the
confounded-lab SCM (:func:`~causalphys.microscopy.lab.confounded_lab`).

It turns the SCM and its labs into :class:`~causalphys.data.benchmark.BenchmarkData`, makes counterfactual pairs
(the same validation sample imaged by each of its lab's scanners) for counterfactual model selection, and takes any
number of shifts (:mod:`~causalphys.microscopy.shifts`, :mod:`~causalphys.evaluation.shifts`). The lab table and the
SCM's default environments: :mod:`~causalphys.microscopy.benchmark`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import torch

from causalphys import checks
from causalphys.data.benchmark import (
    Benchmark,
    BenchmarkData,
    DataRequest,
    DistributionShift,
    EnvironmentInfo,
    check_view_settings,
    view_counts,
)
from causalphys.data.scm_benchmark import Progress
from causalphys.data.tensors import environment_tensors, standardize_images
from causalphys.errors import ParameterError
from causalphys.microscopy.benchmark import lab_objects, unconfounded_scanner
from causalphys.microscopy.lab import LAB_TASKS, check_specimen, confounded_lab, lab_graph
from causalphys.microscopy.reimage import reimage
from causalphys.microscopy.scanners import ScannerPreset, preset_list
from causalphys.microscopy.shifts import checked_environments
from causalphys.scm.environments import Environments
from causalphys.seeding import derive_seed

SPECIMEN_OPTIONS = ("lattice_constants", "lattice_spread", "strain_std", "rotation", "vacancy_fraction", "background")
"""The options of :func:`~causalphys.microscopy.lab.confounded_lab` that describe the specimens (not the labs or the
instruments); ``ScannerShiftBenchmark(specimen={...})`` sets them."""


class ScannerShiftBenchmark(Benchmark):
    """Phase (or defect) classification from ADF images of the confounded-lab SCM
    (:func:`~causalphys.microscopy.lab.confounded_lab`).

    ``scanners``: the scanner presets (``{name: ScannerPreset}`` or a list; Hydra composes them from
    ``causalphys/presets/scanner/``, tests pass ``cp.load_scanners()``); the ``scanner`` node's value is a preset's
    position.
    ``labs``: ``{name: {scanners: [preset for label 0, preset for label 1], consistency, mains_frequency, role}}`` with
    role ``train`` or ``test``; every lab is the environment ``do(lab := i)``. ``shifts``: more test environments
    (:mod:`~causalphys.microscopy.shifts`, :mod:`~causalphys.evaluation.shifts`). ``oracle=True`` cuts the
    ``label -> scanner`` edge in the *training* labs (each picks either of its scanners at random) — the oracle's data;
    test environments are the same confounded ones as for every other run. Each training lab gives ``n_train + n_val``
    images, each test environment ``n_test``; ``n_counterfactual`` validation-like units per training lab are imaged by
    both of the lab's scanners (``do(scanner := s)`` with every other noise kept) for counterfactual selection;
    ``n_pairs`` (default 0: none) further units per training lab are re-imaged by both scanners in new sessions
    (:func:`~causalphys.microscopy.reimage.reimage`) as training pairs for content learners.
    ``specimen``: options of the specimens' distribution passed on to
    :func:`~causalphys.microscopy.lab.confounded_lab` (keys in :data:`SPECIMEN_OPTIONS`, e.g.
    ``{"lattice_spread": 0.0, "strain_std": 0.02, "rotation": [-0.02, 0.02]}``; default: none, the SCM's defaults).
    ``views`` (default none; the harness sets it for a physics learner): labelled training units seen
    under several instruments, ``BenchmarkData.views`` — ``{"source": "prior", "prior": ScannerPreset, "per_unit":
    k, "units": m}`` re-images ``m`` fresh units of each training lab (default ``n_train``) ``k`` times, each time in
    a new session under an instrument drawn from the ``prior`` preset (``do(scanner := prior)``: the specimen and
    its label kept, the label -> scanner edge cut); ``{"source": "scanners", ...}`` re-images them by each of the
    lab's own scanners instead (``k = 2``).
    Images are standardised per image; labels are ``long``.
    """

    task = "classification"
    _checked = False  # set by check(): the settings are checked and the shifts planned (_plan)

    def __init__(
        self,
        labs: Mapping[str, Mapping],
        scanners: Mapping[str, ScannerPreset] | Sequence[ScannerPreset],
        shifts: Mapping[str, DistributionShift] | Sequence[DistributionShift] = (),
        oracle: bool = False,
        task: str = "phase",
        label_noise: float = 0.25,
        image_size: int = 64,
        n_train: int = 20000,
        n_val: int = 2000,
        n_test: int = 4000,
        n_counterfactual: int = 1000,
        n_pairs: int = 0,
        chunk: int = 1000,
        specimen: Mapping[str, object] | None = None,
        views: Mapping[str, object] | None = None,
        name: str = "scanner_shift",
    ):
        self.labs = {str(k): dict(v) for k, v in labs.items()}
        self.presets = preset_list(scanners)
        self.scanners = tuple(p.name for p in self.presets)
        self.shifts = tuple(shifts.values()) if isinstance(shifts, Mapping) else tuple(shifts)
        self.oracle = bool(oracle)
        self.lab_task = task
        self.label_noise = label_noise
        self.image_size = image_size
        self.n_train, self.n_val, self.n_test = n_train, n_val, n_test
        self.n_counterfactual = n_counterfactual
        self.n_pairs = n_pairs
        self.chunk = chunk
        self.specimen = dict(specimen or {})
        self.views = dict(views) if views else None
        self.name = name

    # -- validation and the shift context ------------------------------------------------------------------------
    def requesting(self, request: DataRequest) -> ScannerShiftBenchmark:
        """The request's shifts as more test environments, its views (a physics learner's), and pairs only for a
        learner of pairs (``n_pairs``, or ``n_train / 2`` re-imaged specimens where it is 0; the other runs skip
        making them)."""
        changes = {
            "shifts": (*self.shifts, *request.shifts),
            "n_pairs": (self.n_pairs or self.n_train // 2) if request.needs == "pairs" else 0,
        }
        if request.needs == "views":
            changes["views"] = request.views
        return self.replaced(**changes)

    def check(self) -> None:
        if self.lab_task not in LAB_TASKS[:2]:
            raise ParameterError(f"benchmark.task must be one of {list(LAB_TASKS[:2])}, got {self.lab_task!r}")
        if not 0.0 <= float(self.label_noise) <= 0.5:
            raise ParameterError(f"benchmark.label_noise must lie in [0, 0.5], got {self.label_noise!r}")
        for key in ("n_train", "n_val", "n_test", "chunk", "image_size"):
            checks.positive_int(f"benchmark.{key}", getattr(self, key))
        for key in ("n_counterfactual", "n_pairs"):
            checks.nonnegative_int(f"benchmark.{key}", getattr(self, key))
        roles = {}
        for lab, spec in self.labs.items():
            role = spec.get("role", "test")
            if role not in ("train", "test"):
                raise ParameterError(f"benchmark.labs.{lab}.role must be 'train' or 'test', got {role!r}")
            roles[lab] = role
        self._lab_objects = lab_objects(self.labs, self.scanners, "benchmark.labs")  # keys, scanners, routing
        unknown = sorted(set(self.specimen) - set(SPECIMEN_OPTIONS))
        if unknown:
            raise ParameterError(f"benchmark.specimen: unknown key(s) {unknown}; allowed: {list(SPECIMEN_OPTIONS)}")
        if "train" not in roles.values():
            raise ParameterError("benchmark.labs needs at least one lab with role 'train'")
        pairs = {tuple(self.labs[k]["scanners"]) for k, r in roles.items() if r == "train"}
        if len(pairs) != 1:
            raise ParameterError(f"the training labs must share one scanner pair, got {sorted(pairs)}")
        self._check_views()
        self._lab_options = self._specimen_options()  # checked once, used by _scm
        self._plan()  # every shift is checked here (errors name the shift)

    def _check_views(self) -> None:
        if self.views is not None:
            check_view_settings(self.views, ("prior", "scanners"), "benchmark.views")

    def _view_shape(self) -> tuple[int, int]:
        """``(units per training lab, views per unit)`` of ``views``; ``(0, 0)`` without."""
        return view_counts(self.views, self.n_train)

    def data_bytes(self) -> int:
        """float32 images ``(1, image_size, image_size)`` and int64 labels of every split and view: each training
        lab's ``n_train + n_val`` images, ``2 (n_counterfactual + n_pairs)`` views, each test environment's
        ``n_test`` (the shifts' environments counted after :meth:`check`)."""
        train = sum(1 for spec in self.labs.values() if spec.get("role", "test") == "train")
        test = len(self.labs) - train + len(getattr(self, "_shift_envs", {}))
        view_units, per_unit = self._view_shape()
        per_lab = self.n_train + self.n_val + 2 * (self.n_counterfactual + self.n_pairs) + view_units * per_unit
        units = train * per_lab + test * self.n_test
        return units * (4 * self.image_size**2 + 8)

    def _plan(self) -> None:
        """The lookups the shifts ask for (:class:`~causalphys.microscopy.shifts.ShiftContext`: presets, labs,
        nodes, the training scanners) and the shifts' environments, from the settings alone: no SCM is built here
        (the lab SCM is built once, by the first :meth:`load`: :attr:`_scm`). A shift or the prior that asks for a
        scanner outside the presets adds it (:meth:`scanner_index`)."""
        self._presets = {p.name: p for p in self.presets}
        self._extra: list[ScannerPreset] = []
        self._names = list(self.labs)
        train = [k for k, s in self.labs.items() if s.get("role", "test") == "train"]
        self.train_scanners = tuple(self.labs[train[0]]["scanners"])
        self.nodes = tuple(lab_graph(self.lab_task).nodes)
        self._shift_envs = {}
        for shift in self.shifts:
            envs = checked_environments(shift, self)
            clash = sorted(set(envs) & (set(self._shift_envs) | set(self.labs)))
            if clash:
                raise ParameterError(f"shift {shift.name!r} makes environment(s) {clash}, which already exist")
            self._shift_envs.update(envs)
        self._prior_index = None
        if self.views is not None and self.views.get("source", "prior") == "prior":
            self._prior_index = self.scanner_index(self.views["prior"])
        self._checked = True

    @functools.cached_property
    def _scm(self):
        """The confounded-lab SCM of the labs, with every preset a shift or the prior added: built once."""
        if not self._checked:
            self.check()
        return confounded_lab(
            [*self.presets, *self._extra],
            self._lab_objects,
            task=self.lab_task,
            label_noise=self.label_noise,
            image_shape=(self.image_size, self.image_size),
            **self._lab_options,
        )

    def _specimen_options(self) -> dict[str, object]:
        """``specimen`` as :func:`~causalphys.microscopy.lab.confounded_lab`'s keyword arguments, checked by the
        checks its specimen nodes go through (errors name ``benchmark.specimen``)."""
        options = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in self.specimen.items()}
        try:
            check_specimen(**options)
        except ParameterError as err:
            raise ParameterError(f"benchmark.specimen: {err}") from err
        return options

    def preset(self, name: str) -> ScannerPreset:
        if name not in self._presets:
            raise ParameterError(f"unknown scanner {name!r}; configured scanners: {list(self._presets)}")
        return self._presets[name]

    def scanner_index(self, preset: ScannerPreset | str) -> int:
        if isinstance(preset, str):
            self.preset(preset)
            return self.scanners.index(preset)
        self._extra.append(preset)
        return len(self.scanners) + len(self._extra) - 1

    def lab_index(self, name: str) -> int:
        if name not in self._names:
            raise ParameterError(f"unknown lab {name!r}; labs are {self._names}")
        return self._names.index(name)

    # -- data ----------------------------------------------------------------------------------------------------
    def environments(self) -> tuple[Environments, Environments, dict[str, EnvironmentInfo]]:
        """``(training environments, test environments, info)``; training labs come from the oracle's SCM when
        ``oracle`` is set."""
        if not self._checked:
            self.check()
        info, train, test = {}, {}, {}
        for i, (lab, spec) in enumerate(self.labs.items()):
            role = spec.get("role", "test")
            text = (
                f"do(lab := {lab}): scanners {list(spec['scanners'])}, routing {spec.get('consistency', 0.5):g}, "
                f"{spec.get('mains_frequency', 50.0):g} Hz"
            )
            (train if role == "train" else test)[lab] = {"lab": float(i)}
            if role == "train" and self.oracle:
                text += " (oracle: scanner ⟂ label)"
            info[lab] = EnvironmentInfo(role, None, None, text)
        for env, (spec, env_info) in self._shift_envs.items():
            test[env] = spec
            info[env] = env_info
        train_scm = self._scm.intervene(scanner=unconfounded_scanner(self._lab_objects)) if self.oracle else self._scm
        return Environments(train_scm, train), Environments(self._scm, test), info

    def load(self, seed: int, *, progress: bool | Progress = False) -> BenchmarkData:
        train_envs, test_envs, info = self.environments()
        report = progress if callable(progress) else None
        n_fit = self.n_train + self.n_val
        train = environment_tensors(
            train_envs, n_fit, seed=seed, chunk=self.chunk, on_chunk=report and (lambda e, k: report(e, k, n_fit))
        )
        test = environment_tensors(  # a shift's levels share their units (common random numbers)
            test_envs,
            self.n_test,
            seed=seed,
            chunk=self.chunk,
            on_chunk=report and (lambda e, k: report(e, k, self.n_test)),
            streams={env: f"shift:{i.shift}" for env, i in info.items() if i.shift is not None},
        )
        counterfactual = {}
        if self.n_counterfactual:
            for env in train_envs:
                counterfactual[env] = self.counterfactual_views(train_envs, env, seed)
        pairs = {env: self.reimaged_pairs(train_envs, env, seed) for env in train_envs} if self.n_pairs else {}
        views = {env: self.labelled_views(train_envs, env, seed) for env in train_envs} if self.views else {}
        return BenchmarkData(
            train={k: (x[: self.n_train], y[: self.n_train]) for k, (x, y) in train.items()},
            val={k: (x[self.n_train :], y[self.n_train :]) for k, (x, y) in train.items()},
            test=test,
            info=info,
            task="classification",
            counterfactual=counterfactual,
            pairs=pairs,
            views=views,
        )

    def labelled_views(self, envs: Environments, env: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of ``views``' fresh units of training environment ``env``: ``x`` ``(m, k, 1, h, w)``, unit
        ``i`` re-imaged ``k`` times in new sessions (:func:`~causalphys.microscopy.reimage.reimage`: the specimen
        kept, the session redrawn) under ``do(scanner := s)`` — ``s`` the prior each time, or each of the lab's
        scanners — standardised per image; ``y`` ``(m,)`` the units' labels (unchanged: the scanner is downstream)."""
        units, per_unit = self._view_shape()
        targets = [float(self._prior_index)] * per_unit if self._prior_index is not None else None

        def view(scm, batch, scanner, k, j):
            return reimage(scm, batch, {"scanner": scanner}, derive_seed(seed, "views", env, k, "session", j))

        shots, labels = self._scanner_views(envs, env, seed, units, "views", view, targets, labels=True)
        return torch.stack(shots, dim=1), labels

    def reimaged_pairs(self, envs: Environments, env: str, seed: int) -> list[torch.Tensor]:
        """``n_pairs`` fresh units of training environment ``env``, each re-imaged by both of the lab's scanners in
        a new session (:func:`~causalphys.microscopy.reimage.reimage`: the specimen kept, the session's noise
        redrawn): ``[x | do(scanner := s0), x | do(scanner := s1)]``."""

        def view(scm, batch, scanner, k, j):
            return reimage(scm, batch, {"scanner": scanner}, derive_seed(seed, "pairs", env, k, "session", j))

        return self._scanner_views(envs, env, seed, self.n_pairs, "pairs", view)

    def counterfactual_views(self, envs: Environments, env: str, seed: int) -> list[torch.Tensor]:
        """``n_counterfactual`` fresh units of training environment ``env``, each imaged by both of the lab's
        scanners: ``[x | do(scanner := s0), x | do(scanner := s1)]``, every other noise term the unit's own."""

        def view(scm, batch, scanner, k, j):
            return scm.counterfactual(batch, {"scanner": scanner})

        return self._scanner_views(envs, env, seed, self.n_counterfactual, "counterfactual", view)

    def _scanner_views(self, envs: Environments, env: str, seed: int, n: int, stream: str, view, targets=None,
                       labels: bool = False):  # fmt: skip
        """``n`` fresh units of ``env`` (chunk ``k`` drawn with ``derive_seed(seed, stream, env, k)``), each seen
        under the scanner values ``targets`` (default: the lab's two scanners), the ``j``-th through
        ``view(scm, batch, scanner, k, j)``; standardised images per target, and with ``labels`` the units' labels."""
        scm = envs[env]
        if targets is None:
            targets = [float(self.scanners.index(s)) for s in self.labs[env]["scanners"]]
        views, ys = [[] for _ in targets], []
        for k, start in enumerate(range(0, n, self.chunk)):
            size = min(self.chunk, n - start)
            batch = scm.sample(size, seed=derive_seed(seed, stream, env, k), return_noise=True)
            for j, (images, scanner) in enumerate(zip(views, targets)):
                images.append(standardize_images(view(scm, batch, scanner, k, j)["image"]))
            ys.append(batch["label"].long())
        views = [torch.cat(v) for v in views]
        return (views, torch.cat(ys)) if labels else views
