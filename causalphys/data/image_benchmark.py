"""Your own image files (a manifest CSV or a folder per environment) as a multi-environment benchmark.

Each environment (an instrument, a lab, a session) is a set of files; every file is read with its pixel size
(:mod:`causalphys.data.readers`), resampled to ``pixel_size`` Å and cut into ``tile x tile`` tiles
(:mod:`causalphys.data.images`). :meth:`ImageBenchmark.load` then

1. takes the raw tiles of every used environment, float64 intensities at ``pixel_size`` (:meth:`~ImageBenchmark.tiles`);
2. splits each training environment into a training and a validation part (:meth:`~ImageBenchmark.split`): with
   ``split_by="frame"`` (default) whole frames go to one side — tiles of one frame overlap or share drift and
   contamination, so a tile split would leak — ``n_val = round(val_fraction·F)`` of its ``F`` frames, clamped to
   ``[1, F - 1]``; with ``split_by="tile"`` the same rule over tiles. Seeded by ``derive_seed(seed, "images",
   name, "split", environment)``; test environments are returned whole;
3. standardises each tile on its own (:func:`~causalphys.data.tensors.standardize_images`: ``(x - mean) / std``,
   ``(n, 1, tile, tile)`` float32) as the last step (:meth:`~ImageBenchmark.assemble`).

Roles: the settings ``train`` (environment names) and ``test`` (``None``: every other environment); with
``train=None`` the manifest's ``role`` column, one of ``train``/``test`` on every row of an environment (an
environment without a role, or with two, is an error; with no role column at all, ``train`` must be set).
Environments named in neither list are left out.

Labels: for classification the index of the file's label in ``classes`` (default: the sorted labels of the
training environments; numbers in numeric order), ``long``; for regression the file's ``target``, float32. With
``labelled=False`` labels are not read and every tile gets ``-1`` (classification) or ``NaN`` (regression): such
data load (e.g. to score a trained model on unlabelled recordings) but cannot train.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from causalphys import checks
from causalphys.data.benchmark import (
    PER_UNIT_TASKS,
    Benchmark,
    BenchmarkData,
    DataRequest,
    EnvironmentInfo,
    Shift,
    check_view_settings,
)
from causalphys.data.images import (
    CACHE_VERSION,
    FileTiles,
    ImageCollection,
    ImageTiler,
    file_sha256,
    read_manifest,
    scan_folder,
)
from causalphys.data.readers import to_angstrom
from causalphys.data.tensors import standardize_images
from causalphys.errors import ParameterError
from causalphys.seeding import derive_seed, make_generator

SPLITS = ("frame", "tile")


@dataclass(frozen=True, eq=False)
class ImageTiles:
    """The tiles of one environment: ``images`` float64 ``(n, tile, tile)`` raw intensities at ``pixel_size`` [Å],
    ``labels`` ``(n,)`` (``long`` class indices, ``-1`` unlabelled; or float64 targets, ``NaN`` unlabelled), and
    per tile its ``sources`` (file path), ``frames`` (frame index in the file) and ``corners`` ``(n, 2)`` (top-left
    ``(y, x)`` in the resampled frame); ``role`` ("train" or "test"), a ``description`` and the ``files``."""

    images: torch.Tensor
    labels: torch.Tensor
    pixel_size: float
    sources: tuple[str, ...]
    frames: torch.Tensor
    corners: torch.Tensor
    role: str = "test"
    description: str = ""
    files: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.images)

    def select(self, index: torch.Tensor) -> ImageTiles:
        """The tiles at ``index`` (a ``long`` tensor), in that order."""
        sources = tuple(self.sources[i] for i in index.tolist())
        picked = {k: getattr(self, k)[index] for k in ("images", "labels", "frames", "corners")}
        return replace(self, sources=sources, **picked)


def _label_key(label: str) -> tuple:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _names(key: str, value: object) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ParameterError(f"{key} must be a list of names, got {value!r} ({type(value).__name__})")
    return [str(v) for v in value]


class ImageBenchmark(Benchmark):
    """Image files as a benchmark (module docstring).

    Settings: ``manifest`` (a CSV) or ``root`` (a folder), exactly one; ``train`` (environment names, required)
    and ``test`` (``None``: every other environment; environments in neither list are left out); ``pixel_size``
    (target, Å), ``tile`` and ``stride`` (pixels; ``stride=None`` is ``tile``); ``val_fraction`` in ``(0, 1)``;
    ``split_by`` (``"frame"`` or ``"tile"``); ``task`` (``"classification"`` or ``"regression"``);
    ``default_pixel_size``/``default_unit`` (for files whose entry and file give none; ``default_unit`` alone
    reads a file's unitless scale); ``classes`` (label names in class-index order); ``labelled``; ``cache_dir``
    (a tile cache; ``None``: none); ``name``.

    After :meth:`load`: ``classes_`` (label names in index order; ``None`` for regression), ``collection_``.
    """

    def __init__(
        self,
        manifest: str | os.PathLike | None = None,
        root: str | os.PathLike | None = None,
        *,
        train: Sequence[str] | None = None,
        test: Sequence[str] | None = None,
        pixel_size: float = 0.3,
        tile: int = 64,
        stride: int | None = None,
        val_fraction: float = 0.2,
        split_by: str = "frame",
        task: str = "classification",
        default_pixel_size: float | None = None,
        default_unit: str | None = None,
        classes: Sequence[str] | None = None,
        labelled: bool = True,
        shifts: Mapping[str, object] | Sequence[object] = (),
        recorded: Mapping[str, object] | None = None,
        views: Mapping[str, object] | None = None,
        cache_dir: str | os.PathLike | None = None,
        name: str = "images",
    ):
        self.manifest = manifest
        self.root = root
        self.train = train
        self.test = test
        self.pixel_size = pixel_size
        self.tile = tile
        self.stride = stride
        self.val_fraction = val_fraction
        self.split_by = split_by
        self.task = task
        self.default_pixel_size = default_pixel_size
        self.default_unit = default_unit
        self.classes = classes
        self.labelled = labelled
        self.shifts = tuple(shifts.values()) if isinstance(shifts, Mapping) else tuple(shifts)
        self.recorded = dict(recorded or {})
        self.views = dict(views) if views else None
        self.cache_dir = cache_dir
        self.name = name

    # ------------------------------------------------------------------ settings and files
    def tiler(self) -> ImageTiler:
        return ImageTiler(
            self.pixel_size,
            self.tile,
            self.stride,
            default_pixel_size=self.default_pixel_size,
            default_unit=self.default_unit,
            cache_dir=self.cache_dir,
        )

    def check_settings(self) -> None:
        """Every check that reads no file; errors name the key."""
        if (self.manifest is None) == (self.root is None):
            raise ParameterError(
                f"set exactly one of manifest and root (got manifest={self.manifest!r}, root={self.root!r})"
            )
        if not isinstance(self.name, str) or not self.name:
            raise ParameterError(f"name must be a non-empty string, got {self.name!r}")
        checks.choice("task", self.task, PER_UNIT_TASKS)
        checks.choice("split_by", self.split_by, SPLITS)
        checks.positive_float("pixel_size", self.pixel_size)
        checks.positive_int("tile", self.tile)
        checks.positive_int("stride", self.stride, none_ok=True)
        checks.positive_float("default_pixel_size", self.default_pixel_size, none_ok=True)
        if self.default_unit is not None:
            to_angstrom(1.0, self.default_unit, source="default_unit")
        checks.fraction("val_fraction", self.val_fraction)
        checks.boolean("labelled", self.labelled)
        train, test = _names("train", self.train), _names("test", self.test)
        if train == [] and self.task == "classification" and self.classes is None:
            raise ParameterError(
                "train is empty (a benchmark to score a model on, not to train one): give classes=[...], the class "
                "names in the model's output order"
            )
        bad = [type(s).__name__ for s in self.shifts if not isinstance(s, Shift)]
        if bad:
            raise ParameterError(f"shifts must be shifts (conf/shift/), got {bad}")
        if not isinstance(self.recorded, Mapping):
            raise ParameterError(f"recorded must be a mapping of recorded-instrument settings, got {self.recorded!r}")
        overlap = sorted(set(train or []) & set(test or []))
        if overlap:
            raise ParameterError(f"environments {overlap} are in both train and test")
        classes = _names("classes", self.classes)
        if classes is not None and (not classes or len(set(classes)) != len(classes)):
            raise ParameterError(f"classes must be a non-empty list of distinct labels, got {classes}")
        if self.views is not None:  # recorded images are re-imaged under a prior only
            check_view_settings(
                self.views, ("prior",), "views", why="views of recorded images are re-imaged under a prior"
            )

    def collection(self) -> ImageCollection:
        """The manifest's or the folder's entries."""
        return read_manifest(self.manifest) if self.manifest is not None else scan_folder(self.root)

    def roles(self, collection: ImageCollection) -> tuple[list[str], list[str]]:
        """``(train, test)`` environment names, checked against the collection: the settings ``train`` and
        ``test``, else the manifest's ``role`` column (module docstring)."""
        train, test = _names("train", self.train), _names("test", self.test)
        present = list(collection.environments)
        if train is None:
            train, listed = self._manifest_roles(collection)
            test = test if test is not None else listed
        for key, names in (("train", train), ("test", test or [])):
            absent = [e for e in names if e not in present]
            if absent:
                raise ParameterError(f"{key} environment(s) {absent} are not in {collection.source}; it has {present}")
        test = test if test is not None else [e for e in present if e not in train]
        if not test:
            raise ParameterError(f"no test environments: every environment of {collection.source} is in train")
        for env in train + test:
            if not collection.files(env):
                raise ParameterError(f"environment {env!r} of {collection.source} has no image files")
        return train, test

    def _manifest_roles(self, collection: ImageCollection) -> tuple[list[str], list[str]]:
        roles: dict[str, set] = {env: {e.role for e in collection.files(env)} for env in collection.environments}
        if all(r == {None} for r in roles.values()):
            raise ParameterError(
                f"name the training environments: set train (benchmark.train=[...]) or give {collection.source} a "
                f"role column; its environments are {list(collection.environments)}"
            )
        for env, r in roles.items():
            if len(r) != 1 or not r <= {"train", "test"}:
                raise ParameterError(
                    f"environment {env!r} of {collection.source} has role(s) {sorted(map(str, r))}; each environment "
                    "needs one role, 'train' or 'test', on every row (or set train / test)"
                )
        return [e for e, r in roles.items() if r == {"train"}], [e for e, r in roles.items() if r == {"test"}]

    def label_names(self, collection: ImageCollection, train: list[str], test: list[str]) -> list[str] | None:
        """Class names in index order (classification), after checking every used file has its label/target."""
        if not self.labelled:
            return _names("classes", self.classes) if self.task == "classification" else None
        column = "label" if self.task == "classification" else "target"
        for env in train + test:
            for e in collection.files(env):
                if getattr(e, column) is None:
                    raise ParameterError(
                        f"{e.path} ({e.origin}, environment {env!r}) has no {column}; give every file one, or set "
                        "labelled=false to load unlabelled tiles"
                    )
        if self.task == "regression":
            return None
        seen = {env: {e.label for e in collection.files(env)} for env in train + test}
        trained = set().union(*(seen[e] for e in train))
        for env in test if train else ():  # with no training environment, classes name the model's outputs
            only = sorted(seen[env] - trained, key=_label_key)
            if only:
                raise ParameterError(
                    f"label {only[0]!r} occurs only in test environment {env!r}, in no training environment {train}"
                )
        classes = _names("classes", self.classes) or sorted(trained, key=_label_key)
        for env in train + test:
            unknown = sorted(seen[env] - set(classes), key=_label_key)
            if unknown:
                raise ParameterError(f"labels {unknown} of environment {env!r} are not in classes={classes}")
        return classes

    def requesting(self, request: DataRequest) -> ImageBenchmark:
        """The request's shifts (the recorded tiles re-imaged: more test environments) and views (re-imaged under
        a prior); no pairs."""
        self.refuse(request, shifts=True, views=True)
        changes = {"shifts": (*self.shifts, *request.shifts)}
        if request.needs == "views":
            changes["views"] = request.views
        return self.replaced(**changes)

    def check(self) -> None:
        """Settings, then the files (no pixels read where the format allows): environments, missing / unreadable
        files, units, pixel sizes, tiles larger than an image, labels; each error names the file or key."""
        self.check_settings()
        collection = self.collection()
        train, test = self.roles(collection)
        self.label_names(collection, train, test)
        tiler = self.tiler()
        for env in train + test:
            for entry in collection.files(env):
                tiler.inspect(entry)

    # ------------------------------------------------------------------ data
    def tiles(self, *, progress: bool = False) -> dict[str, ImageTiles]:
        """``{environment: ImageTiles}`` of every used environment (train first, then test): raw float64 tiles at
        ``pixel_size`` Å with their labels. Deterministic (no seed): only :meth:`split` draws."""
        self.check_settings()
        collection = self.collection()
        train, test = self.roles(collection)
        self.classes_ = self.label_names(collection, train, test)
        groups = [collection.files(env) for env in train + test]
        done = iter(self.tiler().tiles([e for files in groups for e in files], progress=progress))
        self.collection_ = collection
        roles = ["train"] * len(train) + ["test"] * len(test)
        return {
            env: self._environment(env, role, [next(done) for _ in files])
            for env, role, files in zip(train + test, roles, groups)
        }

    def _environment(self, env: str, role: str, parts: list[FileTiles]) -> ImageTiles:
        labels = []
        for p in parts:
            n = len(p.tiles)
            if self.task == "regression":
                value = p.entry.target if self.labelled and p.entry.target is not None else math.nan
                labels.append(torch.full((n,), value, dtype=torch.float64))
            else:
                index = self.classes_.index(p.entry.label) if self.labelled else -1
                labels.append(torch.full((n,), index, dtype=torch.long))
        files = tuple(str(p.entry.path) for p in parts)
        pixels_in = sorted({round(p.pixel_size_in, 6) for p in parts})
        names = ", ".join(Path(f).name for f in files[:3]) + (f" (+{len(files) - 3} more)" if len(files) > 3 else "")
        shared = {k: v for k, v in parts[0].entry.metadata.items() if all(p.entry.metadata.get(k) == v for p in parts)}
        about = "".join(f", {k}={v}" for k, v in shared.items())
        n = sum(len(p.tiles) for p in parts)
        description = (
            f"{env}: {len(files)} file(s) {names}{about}; pixel size {', '.join(f'{s:g}' for s in pixels_in)} Å "
            f"resampled to {self.pixel_size:g} Å; {n} tiles of {self.tile}x{self.tile} px, stride {self.tiler().step}"
        )
        return ImageTiles(
            images=torch.cat([p.tiles for p in parts]),
            labels=torch.cat(labels),
            pixel_size=float(self.pixel_size),
            sources=tuple(str(p.entry.path) for p in parts for _ in range(len(p.tiles))),
            frames=torch.cat([p.frames for p in parts]),
            corners=torch.cat([p.corners for p in parts]),
            role=role,
            description=description,
            files=files,
        )

    def split(self, tiles: dict[str, ImageTiles], seed: int) -> dict[str, dict[str, ImageTiles]]:
        """``{"train": {env: tiles}, "val": {...}, "test": {...}}`` (module docstring, step 2): environments
        whose tiles have ``role == "train"`` are split, the others are test environments."""
        parts: dict[str, dict[str, ImageTiles]] = {"train": {}, "val": {}, "test": {}}
        for env, t in tiles.items():
            if t.role != "train":
                parts["test"][env] = t
                continue
            if self.split_by == "frame":
                keys = list(zip(t.sources, t.frames.tolist()))
                groups = {k: i for i, k in enumerate(dict.fromkeys(keys))}
                group = torch.tensor([groups[k] for k in keys], dtype=torch.long)
            else:
                group = torch.arange(len(t))
            n = int(group.max()) + 1 if len(group) else 0
            if n < 2:
                unit = "frame" if self.split_by == "frame" else "tile"
                raise ParameterError(
                    f"training environment {env!r} has {n} {unit}(s): too few to split into train and val "
                    f"(split_by={self.split_by!r}; add files, or use split_by=tile)"
                )
            gen = make_generator(derive_seed(seed, "images", self.name, "split", env))
            n_val = min(n - 1, max(1, round(self.val_fraction * n)))
            is_val = torch.zeros(n, dtype=torch.bool)
            is_val[torch.randperm(n, generator=gen)[:n_val]] = True
            parts["val"][env] = t.select(torch.nonzero(is_val[group]).squeeze(1))
            parts["train"][env] = t.select(torch.nonzero(~is_val[group]).squeeze(1))
        return parts

    def assemble(self, parts: dict[str, dict[str, ImageTiles]]) -> BenchmarkData:
        """:class:`BenchmarkData` from split raw tiles: each tile standardised (module docstring, step 3)."""

        def tensors(t: ImageTiles) -> tuple[torch.Tensor, torch.Tensor]:
            y = t.labels.to(torch.float32) if self.task == "regression" else t.labels.long()
            return standardize_images(t.images), y

        out = {split: {env: tensors(t) for env, t in parts[split].items()} for split in ("train", "val", "test")}
        info = {env: EnvironmentInfo("train", None, None, t.description) for env, t in parts["train"].items()}
        info.update({env: EnvironmentInfo("test", None, None, t.description) for env, t in parts["test"].items()})
        counterfactual = {}
        for env, (source, images, shifted) in parts.get("reimaged", {}).items():
            x, y = standardize_images(images), out["test"][source][1]
            out["test"][env] = (x, y)
            info[env] = shifted
            counterfactual[env] = [out["test"][source][0], x]
        n_classes = len(self.classes_) if self.task == "classification" and self.classes_ is not None else None
        return BenchmarkData(
            out["train"],
            out["val"],
            out["test"],
            info,
            task=self.task,
            counterfactual=counterfactual,
            n_classes=n_classes,
        )

    def reimaged(self, parts: dict[str, dict[str, ImageTiles]], seed: int) -> dict[str, tuple]:
        """The shifts' test environments (:mod:`causalphys.data.reimaging`): ``{env: (source environment,
        re-imaged raw tiles (n, h, w), EnvironmentInfo)}``; the recorded instrument of each test environment from
        its tiles and the ``recorded`` settings."""
        if not self.shifts:
            return {}
        from causalphys.data.reimaging import instrument_of_tiles, shifted_environments

        tests = {env: t.images for env, t in parts["test"].items()}
        instruments = {}
        for env, images in tests.items():
            try:
                instruments[env] = instrument_of_tiles(images, self.pixel_size, self.recorded)
            except ParameterError as err:
                raise ParameterError(f"the recorded instrument of environment {env!r}: {err}") from err
        return shifted_environments(self.shifts, tests, instruments, seed, existing=[*parts["train"], *tests])

    def load(self, seed: int, *, progress: bool = False) -> BenchmarkData:
        """``assemble(split(tiles(progress), seed))`` with the shifts' re-imaged environments: one seed's data
        (module docstring)."""
        parts = self.split(self.tiles(progress=progress), seed)
        parts["reimaged"] = self.reimaged(parts, seed)
        data = self.assemble(parts)
        data.views = self.prior_views(parts, seed)
        return data

    def prior_views(self, parts: dict[str, dict[str, ImageTiles]], seed: int) -> dict[str, tuple]:
        """``views`` (the physics learners' training data): each training environment's tiles (``units`` of them
        drawn at random, default all) re-imaged ``per_unit`` times under instruments drawn from the prior, only as
        far as is physical from the recording (:func:`~causalphys.data.reimaging.prior_views`), standardised:
        ``{env: (x (m, k, 1, h, w), y (m,))}``."""
        if self.views is None:
            return {}
        from causalphys.data.reimaging import instrument_of_tiles, prior_views

        out = {}
        for env, t in parts["train"].items():
            units = self.views.get("units")
            if units is not None and units < len(t):
                gen = make_generator(derive_seed(seed, "images", self.name, "views", env))
                t = t.select(torch.randperm(len(t), generator=gen)[:units].sort().values)
            try:
                instrument = instrument_of_tiles(t.images, self.pixel_size, self.recorded)
            except ParameterError as err:
                raise ParameterError(f"the recorded instrument of environment {env!r}: {err}") from err
            k = int(self.views.get("per_unit", 2))
            raw = prior_views(t.images, instrument, self.views["prior"], k, seed, env)
            x = standardize_images(raw.reshape(-1, *raw.shape[2:])).reshape(len(t), k, 1, *raw.shape[2:])
            y = t.labels.to(torch.float32) if self.task == "regression" else t.labels.long()
            out[env] = (x, y)
        return out

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of the used files' bytes, their entries and every setting that changes
        the data: equal fingerprints, equal data for every seed."""
        self.check_settings()
        collection = self.collection()
        train, test = self.roles(collection)
        files = [
            [file_sha256(e.path), e.environment, e.label, e.target, e.pixel_size, e.unit, e.dataset]
            for env in train + test
            for e in collection.files(env)
        ]
        skip = ("cache_dir", "manifest", "shifts", "_arguments")  # the shifts: in the run's config (and hash) already
        settings = {k: v for k, v in vars(self).items() if not k.endswith("_") and k not in skip}
        settings.update(root=None, train=train, test=test, version=CACHE_VERSION)
        text = json.dumps([files, settings], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
