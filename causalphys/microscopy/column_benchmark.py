"""The column-finding benchmark: find the atomic columns of SrTiO3 images, trained on some scanners, tested on others.

A dense task (``task="dense"``): the input is a standardised ADF image ``(1, H, W)`` of
:func:`~causalphys.microscopy.column_lab.column_lab`, the target its column map ``(K, H, W)`` (one channel per
column kind, a Gaussian of height 1 where each column appears). Every environment is ``do(scanner := s)``: the
training environments are the ``train`` scanners (by default the scanner-shift labs' two), the test environments the
``test`` scanners (by default the two no training lab has). The harness scores the maps' MSE and, as the data's
``map_metrics``, :func:`~causalphys.microscopy.columns.column_metrics` at ``pixel_size`` (column precision, recall
and F1 within 0.5 Å, the median position error in pm).

``views`` (set by the harness for a physics learner): ``units`` fresh specimens per training scanner, each
re-imaged ``per_unit`` times in new sessions under the physics prior (:func:`~causalphys.microscopy.reimage.
reimage`), each view with its own map — the scan moves the columns, so a view's target is the map of that view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from causalphys import checks
from causalphys.data.benchmark import (
    Benchmark,
    BenchmarkData,
    DataRequest,
    EnvironmentInfo,
    check_view_settings,
    view_counts,
)
from causalphys.data.tensors import standardize_images
from causalphys.errors import ParameterError
from causalphys.microscopy.column_lab import column_lab
from causalphys.microscopy.imaging import ColumnMap
from causalphys.microscopy.phases import SRTIO3_110
from causalphys.microscopy.reimage import reimage
from causalphys.microscopy.scanners import ScannerPreset, preset_list
from causalphys.seeding import derive_seed


class ColumnBenchmark(Benchmark):
    """Column maps from ``column_lab`` images (module docstring).

    ``scanners``: the scanner presets (``{name: preset}`` or a list; Hydra composes them from
    ``causalphys/presets/scanner/``);
    ``train`` and ``test``: the names of the scanners whose images train and test. Each training scanner gives
    ``n_train + n_val`` images, each test scanner ``n_test``, all ``image_size`` pixels square; ``kinds`` are the
    column kinds of the map (SrTiO3 [110]: SrO and Ti), ``map_width`` the maps' Gaussian width (Å), ``pixel_size``
    the nominal sampling (Å) the metrics convert pixels with (the presets' pixel sizes scatter around it).
    """

    task = "dense"

    def __init__(
        self,
        scanners: Mapping[str, ScannerPreset] | Sequence[ScannerPreset],
        train: Sequence[str] = ("corrected_200kv", "low_dose"),
        test: Sequence[str] = ("uncorrected_200kv", "drifty_older"),
        kinds: Sequence[str] = ("SrO", "Ti"),
        image_size: int = 64,
        map_width: float = 0.3,
        pixel_size: float = 0.3,
        n_train: int = 1500,
        n_val: int = 300,
        n_test: int = 500,
        chunk: int = 500,
        views: Mapping[str, object] | None = None,
        name: str = "columns",
    ):
        self.presets = preset_list(scanners)
        self.scanners = tuple(p.name for p in self.presets)
        self.train = tuple(train)
        self.test = tuple(test)
        self.kinds = tuple(kinds)
        self.image_size = image_size
        self.map_width = map_width
        self.pixel_size = pixel_size
        self.n_train, self.n_val, self.n_test, self.chunk = n_train, n_val, n_test, chunk
        self.views = dict(views) if views else None
        self.name = name

    def requesting(self, request: DataRequest) -> ColumnBenchmark:
        """The request's views (a physics learner's, each view with its own column maps); no shifts, no pairs."""
        return self.requesting_views(request)

    def check(self) -> None:
        for key in ("n_train", "n_val", "n_test", "chunk", "image_size"):
            checks.positive_int(f"benchmark.{key}", getattr(self, key))
        if not (isinstance(self.pixel_size, (int, float)) and self.pixel_size > 0):
            raise ParameterError(f"benchmark.pixel_size must be > 0 (Å), got {self.pixel_size!r}")
        if not self.train:
            raise ParameterError("benchmark.train must name at least one scanner")
        for key in ("train", "test"):
            unknown = [s for s in getattr(self, key) if s not in self.scanners]
            if unknown:
                raise ParameterError(
                    f"benchmark.{key}: unknown scanner(s) {unknown}; configured: {list(self.scanners)}"
                )
        both = sorted(set(self.train) & set(self.test))
        if both:
            raise ParameterError(f"scanner(s) {both} are in both benchmark.train and benchmark.test")
        if self.views is not None:
            check_view_settings(self.views, ("prior",), "benchmark.views", "the column benchmark's views are drawn "
                                "from a prior")  # fmt: skip
        # the kinds and the map width, by the column map's own constructor (errors name them): no SCM is built
        ColumnMap(tuple(self.kinds), "placement", width=self.map_width, shape=(self.image_size,) * 2,
                  phases=(SRTIO3_110,))  # fmt: skip

    def _view_shape(self) -> tuple[int, int]:
        return view_counts(self.views, self.n_train)

    def data_bytes(self) -> int:
        """float32 images ``(1, s, s)`` and maps ``(K, s, s)`` of every split and view."""
        units, per_unit = self._view_shape()
        count = len(self.train) * (self.n_train + self.n_val + units * per_unit) + len(self.test) * self.n_test
        return count * 4 * (1 + len(self.kinds)) * self.image_size**2

    def _lab(self):
        presets = list(self.presets)
        if self.views is not None:
            presets.append(self.views["prior"])  # the prior, one more scanner to pick (its position: len(presets))
        return column_lab(presets, kinds=self.kinds, image_shape=(self.image_size, self.image_size),
                          map_width=self.map_width)  # fmt: skip

    def _draw(self, scm, n: int, stream: tuple, views: int = 0):
        """``n`` units of ``scm`` in chunks: standardised images ``(n, 1, s, s)`` and maps ``(n, K, s, s)``, and
        with ``views`` the same units re-imaged ``views`` times under the prior: ``(n, k, 1, s, s)``,
        ``(n, k, K, s, s)``."""
        xs, ys, vx, vy = [], [], [], []
        for k, start in enumerate(range(0, n, self.chunk)):
            size = min(self.chunk, n - start)
            batch = scm.sample(size, seed=derive_seed(*stream, k), return_noise=bool(views))
            xs.append(standardize_images(batch["image"]))
            ys.append(batch["columns"])
            if views:
                prior = float(len(self.presets))
                shots = [reimage(scm, batch, {"scanner": prior}, derive_seed(*stream, k, "session", j))
                         for j in range(views)]  # fmt: skip
                vx.append(torch.stack([standardize_images(s["image"]) for s in shots], 1))
                vy.append(torch.stack([s["columns"] for s in shots], 1))
        out = (torch.cat(xs), torch.cat(ys).to(torch.float32))
        return (*out, torch.cat(vx), torch.cat(vy).to(torch.float32)) if views else out

    def load(self, seed: int, *, progress: bool = False) -> BenchmarkData:
        self.check()
        scm = self._lab()
        index = {name: float(i) for i, name in enumerate(self.scanners)}
        train, val, test, info, views = {}, {}, {}, {}, {}
        units, per_unit = self._view_shape()
        for name in self.train:
            env = scm.do(scanner=index[name])
            x, y = self._draw(env, self.n_train + self.n_val, (seed, "train", name))
            train[name] = (x[: self.n_train], y[: self.n_train])
            val[name] = (x[self.n_train :], y[self.n_train :])
            info[name] = EnvironmentInfo("train", description=f"do(scanner := {name})")
            if units:
                _, _, vx, vy = self._draw(env, units, (seed, "views", name), per_unit)
                views[name] = (vx, vy)
        for name in self.test:
            test[name] = self._draw(scm.do(scanner=index[name]), self.n_test, (seed, "test", name))
            info[name] = EnvironmentInfo("test", description=f"do(scanner := {name})")
        scores = {"function": "causalphys.microscopy.columns.column_metrics", "pixel_size": float(self.pixel_size)}
        return BenchmarkData(train=train, val=val, test=test, info=info, task="dense", views=views, map_metrics=scores)
