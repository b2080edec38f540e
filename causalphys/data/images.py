"""A collection of image files -> tiles at one pixel size in ångström.

The collection is a **manifest** CSV (:func:`read_manifest`: columns ``path``, ``environment``, optional ``label``,
``target``, ``pixel_size``, ``unit``, ``dataset``, ``role``; further columns are kept as metadata) or a
**folder layout** ``root/<environment>/[<label>/]<files>`` (:func:`scan_folder`).

Each file's frames ``(frames, h, w)`` at its pixel size ``p`` [Å] are resampled to the target pixel size ``t``
(:func:`resample`): output pixel ``j`` samples the input at ``x = (j + 1/2)·t`` [Å from the frame's edge], so the
pixel size is exactly ``t``, the physical frame of the image (its origin and scale in Å) is kept, and the new size
is ``floor(h·p/t) x floor(w·p/t)`` (the field of view loses less than one target pixel at the far edges).
Shrinking (``p < t``) is anti-aliased (torch's bilinear ``antialias=True``: a triangle filter of width ``t/p``
input pixels). Every resampled frame is then cut into ``tile x tile`` tiles with step ``stride`` that never cross
frames (:func:`tile_frames`): ``(floor((h' - tile)/stride) + 1)·(floor((w' - tile)/stride) + 1)`` per frame.

:class:`ImageTiler` does this per file, with a progress bar and a cache of each file's tiles in ``cache_dir``
keyed by the sha256 of the file's bytes and every setting that shapes its tiles (a changed file, a new override or
another tile size gives another key). Cache files are written atomically and read with ``weights_only=True``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from causalphys.atomic import save_torch
from causalphys.data.readers import SUPPORTED_EXTENSIONS, ImageFileError, inspect_image, read_image, to_angstrom
from causalphys.errors import ParameterError

MANIFEST_COLUMNS = ("path", "environment", "label", "target", "pixel_size", "unit", "dataset", "role")
CACHE_VERSION = 1  # bump when the tiles a file gives change for the same settings


@dataclass(frozen=True)
class ImageEntry:
    """One file of a collection: its ``environment``, class ``label`` / regression ``target`` (or ``None``), the
    ``pixel_size``/``unit`` overriding the file's, an HDF5/RosettaSciIO ``dataset``, the ``role`` of its
    environment ("train"/"test", or ``None``) and further ``metadata``."""

    path: Path
    environment: str
    label: str | None = None
    target: float | None = None
    pixel_size: float | None = None
    unit: str | None = None
    dataset: str | None = None
    role: str | None = None
    metadata: dict = field(default_factory=dict, compare=False)
    origin: str = ""  # where the entry came from ("manifest.csv row 3"), for error messages


@dataclass(frozen=True)
class ImageCollection:
    """The files of a manifest or a folder layout, and every environment it names (in order)."""

    entries: tuple[ImageEntry, ...]
    environments: tuple[str, ...]
    source: Path

    def files(self, environment: str) -> list[ImageEntry]:
        return [e for e in self.entries if e.environment == environment]


def _cell(row: dict, key: str) -> str | None:
    value = (row.get(key) or "").strip()
    return value or None


def _number(text: str | None, key: str, origin: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise ParameterError(f"{origin}: column {key!r} must be a number, got {text!r}") from None


def read_manifest(path: str | os.PathLike) -> ImageCollection:
    """The entries of a manifest CSV; relative ``path`` cells are relative to the manifest's folder."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"manifest not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        rows = list(reader)
    missing = [c for c in ("path", "environment") if c not in columns]
    if missing:
        raise ParameterError(f"manifest {path} lacks column(s) {missing}; its columns are {columns}")
    entries, seen = [], {}
    for line, row in enumerate(rows, start=2):
        origin = f"manifest {path} line {line}"
        file, env = _cell(row, "path"), _cell(row, "environment")
        if file is None or env is None:
            raise ParameterError(f"{origin}: empty 'path' or 'environment' cell")
        file_path = Path(file).expanduser()
        file_path = file_path if file_path.is_absolute() else path.parent / file_path
        key = (file_path.resolve(), _cell(row, "dataset"))
        if key in seen:
            raise ParameterError(f"{origin}: {file_path} is listed twice (also on line {seen[key]})")
        seen[key] = line
        entries.append(
            ImageEntry(
                path=file_path,
                environment=env,
                label=_cell(row, "label"),
                target=_number(_cell(row, "target"), "target", origin),
                pixel_size=_number(_cell(row, "pixel_size"), "pixel_size", origin),
                unit=_cell(row, "unit"),
                dataset=_cell(row, "dataset"),
                role=_cell(row, "role"),
                metadata={k: v for k, v in row.items() if k not in MANIFEST_COLUMNS and k is not None and v},
                origin=origin,
            )
        )
    environments = tuple(dict.fromkeys(e.environment for e in entries))
    return ImageCollection(tuple(entries), environments, path)


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUPPORTED_EXTENSIONS
    )


def scan_folder(root: str | os.PathLike) -> ImageCollection:
    """The entries of ``root/<environment>/[<label>/]<files>`` (sorted by name; hidden names skipped, and files
    whose extension no reader takes ignored). An environment folder holding sub-folders has a label level."""
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"image folder not found: {root}")
    entries, environments = [], []
    for env_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        environments.append(env_dir.name)
        label_dirs = sorted(p for p in env_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        loose = _image_files(env_dir)
        if label_dirs and loose:
            raise ParameterError(
                f"{env_dir} mixes image files ({loose[0].name}, ...) with label folders ({label_dirs[0].name}, ...); "
                "put every file in a label folder, or use no label folders"
            )
        for label_dir in label_dirs or [None]:
            for file in _image_files(label_dir or env_dir):
                label = label_dir.name if label_dir else None
                entries.append(ImageEntry(file, env_dir.name, label, origin=f"folder {root}"))
    return ImageCollection(tuple(entries), tuple(environments), root)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes (hex), read in ``chunk``-byte pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def resampled_shape(h: int, w: int, pixel_size: float, target: float) -> tuple[int, int]:
    """``(floor(h·p/t), floor(w·p/t))``: the size of a frame after :func:`resample` (torch's rule)."""
    if pixel_size == target:
        return h, w
    scale = pixel_size / target
    return math.floor(float(h) * scale), math.floor(float(w) * scale)


def resample(frames: torch.Tensor, pixel_size: float, target: float) -> torch.Tensor:
    """Frames ``(n, h, w)`` at ``pixel_size`` [Å] -> ``(n, h', w')`` at exactly ``target`` [Å] (module docstring)."""
    if pixel_size == target:
        return frames
    out = F.interpolate(
        frames.unsqueeze(1),
        scale_factor=pixel_size / target,
        mode="bilinear",
        align_corners=False,
        antialias=pixel_size < target,
        recompute_scale_factor=False,
    )
    return out.squeeze(1)


def tile_frames(frames: torch.Tensor, tile: int, stride: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tiles of frames ``(n, H, W)``: ``(tiles (m, tile, tile), frame (m,), corner (m, 2))``, ``corner`` the
    ``(y, x)`` of each tile's top-left pixel; row-major within a frame, frames in order."""
    n, h, w = frames.shape
    blocks = frames.unfold(1, tile, stride).unfold(2, tile, stride)  # (n, nh, nw, tile, tile)
    nh, nw = blocks.shape[1:3]
    ys, xs = torch.meshgrid(torch.arange(nh) * stride, torch.arange(nw) * stride, indexing="ij")
    corners = torch.stack([ys.reshape(-1), xs.reshape(-1)], 1).repeat(n, 1)
    index = torch.arange(n).repeat_interleave(nh * nw)
    return blocks.reshape(n * nh * nw, tile, tile).contiguous(), index, corners


@dataclass(frozen=True, eq=False)
class FileTiles:
    """The tiles of one file: ``tiles`` float64 ``(m, tile, tile)`` raw intensities at the target pixel size,
    ``frames`` ``(m,)`` the frame each came from, ``corners`` ``(m, 2)`` its top-left ``(y, x)`` in the resampled
    frame, ``pixel_size_in`` the file's pixel size [Å], ``shape_in``/``shape_out`` ``(frames, h, w)`` before and
    after resampling, ``sha256`` of the file's bytes, and whether it came from the cache."""

    entry: ImageEntry
    tiles: torch.Tensor
    frames: torch.Tensor
    corners: torch.Tensor
    pixel_size_in: float
    shape_in: tuple[int, int, int]
    shape_out: tuple[int, int, int]
    sha256: str
    cached: bool = False


class ImageTiler:
    """Files -> :class:`FileTiles` at ``pixel_size`` [Å] (module docstring). A file's pixel size is, in order: its
    entry's override (``pixel_size`` in ``unit``, Å if no unit; or ``unit`` alone for the file's scale), the
    file's own scale and unit, the file's scale in ``default_unit``, ``default_pixel_size`` in ``default_unit``
    (Å if none); with none of these it is an error naming the file."""

    def __init__(
        self,
        pixel_size: float,
        tile: int,
        stride: int | None = None,
        *,
        default_pixel_size: float | None = None,
        default_unit: str | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        self.pixel_size = pixel_size
        self.tile = tile
        self.stride = stride
        self.default_pixel_size = default_pixel_size
        self.default_unit = default_unit
        self.cache_dir = cache_dir

    @property
    def step(self) -> int:
        return self.tile if self.stride is None else self.stride

    def source_pixel_size(self, entry: ImageEntry, found: float | None, metadata: dict) -> float:
        """The file's pixel size in Å, given what :func:`read_image` ``found`` (``None``: nothing)."""
        if found is not None:
            return found
        scale = metadata.get("scale")
        if scale is not None and self.default_unit:
            return to_angstrom(scale, self.default_unit, source=entry.path)
        if self.default_pixel_size is not None:
            return to_angstrom(self.default_pixel_size, self.default_unit or "Å", source=entry.path)
        what = f"a scale {scale:g} without a unit" if scale is not None else "no pixel size"
        raise ImageFileError(
            f"{entry.path} ({entry.origin}): the file stores {what}, and neither its entry nor default_pixel_size / "
            "default_unit gives one; add pixel_size and unit columns to the manifest or set default_pixel_size"
        )

    def _check_size(self, entry: ImageEntry, shape: tuple[int, int, int], pixel_in: float) -> tuple[int, int, int]:
        h, w = resampled_shape(shape[1], shape[2], pixel_in, self.pixel_size)
        if min(h, w) < self.tile:
            raise ImageFileError(
                f"{entry.path}: tile {self.tile} px ({self.tile * self.pixel_size:g} Å) is larger than the image: "
                f"{shape[1]}x{shape[2]} px at {pixel_in:g} Å = {h}x{w} px at {self.pixel_size:g} Å"
            )
        return shape[0], h, w

    def inspect(self, entry: ImageEntry) -> tuple[float, tuple[int, int, int]]:
        """``(pixel size in Å, resampled shape)`` of ``entry`` from its header: every check that needs no pixels."""
        header = inspect_image(
            entry.path, pixel_size=entry.pixel_size, unit=entry.unit, require_pixel_size=False, dataset=entry.dataset
        )
        pixel_in = self.source_pixel_size(entry, header.pixel_size, header.metadata)
        return pixel_in, self._check_size(entry, header.shape, pixel_in)

    def key(self, entry: ImageEntry, sha256: str) -> str:
        """The cache key of ``entry``'s tiles: its bytes' hash and every setting that shapes them."""
        settings = [CACHE_VERSION, sha256, entry.pixel_size, entry.unit, entry.dataset, self.default_pixel_size]
        settings += [self.default_unit, self.pixel_size, self.tile, self.step]
        return hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:32]

    def file_tiles(self, entry: ImageEntry) -> FileTiles:
        """``entry``'s tiles, from the cache when it holds them."""
        sha = file_sha256(entry.path)
        path = Path(self.cache_dir) / f"tiles-{self.key(entry, sha)}.pt" if self.cache_dir is not None else None
        if path is not None and path.is_file():
            try:
                d = torch.load(path, map_location="cpu", weights_only=True)
                shapes = tuple(d["shape_in"]), tuple(d["shape_out"])
                return FileTiles(entry, d["tiles"], d["frames"], d["corners"], d["pixel_size_in"], *shapes, sha, True)
            except Exception:  # an unreadable cache file is rebuilt, never trusted
                path.unlink(missing_ok=True)
        rec = read_image(
            entry.path, pixel_size=entry.pixel_size, unit=entry.unit, require_pixel_size=False, dataset=entry.dataset
        )
        pixel_in = self.source_pixel_size(entry, rec.pixel_size, rec.metadata)
        self._check_size(entry, rec.shape, pixel_in)
        frames = resample(torch.from_numpy(rec.data), pixel_in, self.pixel_size)
        tiles, index, corners = tile_frames(frames, self.tile, self.step)
        out = FileTiles(entry, tiles, index, corners, pixel_in, rec.shape, tuple(frames.shape), sha)
        if path is not None:
            payload = {"tiles": tiles, "frames": index, "corners": corners, "pixel_size_in": pixel_in}
            save_torch({**payload, "shape_in": list(rec.shape), "shape_out": list(frames.shape)}, path)
        return out

    def tiles(self, entries: Sequence[ImageEntry], *, progress: bool = False) -> list[FileTiles]:
        """:meth:`file_tiles` of every entry, in order, with a tqdm bar when ``progress``."""
        if progress:
            from tqdm.auto import tqdm

            entries = tqdm(entries, desc="image files", unit="file")
        return [self.file_tiles(e) for e in entries]
