"""Image files with their physical pixel size: ``read_image(path) -> Recording`` with the pixel size in ångström.

A file is read into ``data`` float64 ``(frames, h, w)``: a 2-D image is one frame, a 3-D array is a stack of
``frames`` slices along its first axis (HyperSpy files: the signal axes are the last two). The pixel size is

    pixel_size [Å] = to_angstrom(override, unit)        if ``pixel_size`` is given (in ``unit``, Å when ``unit=None``)
                   = to_angstrom(file scale, unit or file unit)   otherwise, where the file stores a scale

and ``None`` when neither gives one (an error unless ``require_pixel_size=False``). Overrides win over the file.
Pixels must be square (the file's x and y scales within 0.1 %). Where each format keeps its scale:

- ``.npy``: nowhere (an override is needed); ``.npz``: the array ``image`` or ``data`` (or the only array), with
  optional 0-d entries ``pixel_size`` and ``unit``;
- TIFF (``tifffile``): ImageJ metadata ``unit`` with ``1 / XResolution``; OME-XML ``PhysicalSizeX`` (unit default
  µm); else the resolution tags when ``ResolutionUnit`` is centimetre (or tifffile's millimetre / micrometre). A
  resolution in inches is a print setting (72 dpi ...), kept in ``metadata`` but not used. ImageJ's ``spacing`` is
  the distance between slices, kept as ``metadata["z_spacing"]``;
- PNG (Pillow): nowhere;
- HDF5 (``h5py``): HyperSpy ``.hspy``/``.hdf5`` (``Experiments/<name>/data`` with ``axis-k`` attributes ``scale``
  and ``units``), or a plain file with one 2-D/3-D dataset (attributes ``pixel_size``/``scale`` and
  ``unit``/``units`` if present); ``dataset=`` picks one of several;
- ``.dm3``, ``.dm4``, ``.ser``, ``.emd``, ``.mrc``: RosettaSciIO's axes ``scale``/``units`` (``pip install
  causalphys[io]``). An MRC file with cell length 0 has no pixel size.

Colour: an RGB(A) image whose colour channels are equal (grey saved as colour) is read as its first channel; a
real colour image (or a translucent one) is an error, since a luminance mix of a false-colour map is not an
intensity. Every error is an :class:`ImageFileError` (a ``ParameterError``) that names the file.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from causalphys.errors import ParameterError

ANGSTROM_PER_UNIT = {"å": 1.0, "a": 1.0, "angstrom": 1.0, "angstroms": 1.0, "nm": 10.0, "pm": 0.01, "µm": 1e4}
ANGSTROM_PER_UNIT.update({"μm": 1e4, "um": 1e4, "micron": 1e4, "microns": 1e4, "mm": 1e7, "cm": 1e8, "m": 1e10})
NO_UNIT = {"", "<undefined>", "undefined", "none", "pixel", "pixels", "px", "[]"}
RSCIIO_PLUGINS = {".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".ser": "tia", ".emd": "emd", ".mrc": "mrc"}
FORMATS = {".npy": "npy", ".npz": "npz", ".tif": "tiff", ".tiff": "tiff", ".png": "png", ".h5": "hdf5"}
FORMATS.update({".hdf5": "hdf5", ".hspy": "hdf5", **{ext: "rsciio" for ext in RSCIIO_PLUGINS}})
SUPPORTED_EXTENSIONS = tuple(FORMATS)


class ImageFileError(ParameterError):
    """An image file that cannot be used: unreadable, unsupported, without a pixel size, not an image, ..."""


def to_angstrom(value: float, unit: str, *, source: str | os.PathLike | None = None) -> float:
    """``value`` (a length in ``unit``: Å/A/angstrom, nm, pm, µm/um/micron, mm, cm, m) in ångström."""
    where = f" (file {source})" if source is not None else ""
    key = _unit_key(unit)
    if key not in ANGSTROM_PER_UNIT:
        accepted = sorted({"Å", "A", "angstrom", "nm", "pm", "µm", "um", "micron", "mm", "cm", "m"})
        raise ImageFileError(f"unknown length unit {unit!r}{where}; accepted units are {accepted}")
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        raise ImageFileError(f"pixel size must be a finite number, got {value!r} {unit}{where}")
    if value <= 0:
        raise ImageFileError(f"pixel size must be > 0, got {value!r} {unit}{where}")
    return float(value) * ANGSTROM_PER_UNIT[key]


def _unit_key(unit: object) -> str:
    text = unit.decode() if isinstance(unit, bytes) else str(unit)
    text = text.strip().replace("\\u00B5", "µ").replace("\\u00b5", "µ")
    return text.lower()  # Å (U+00C5 or the ångström sign U+212B) -> å; µ stays µ


def _file_unit(unit: object) -> str | None:
    """A unit as stored in a file, or ``None`` where the file says 'no unit'."""
    if unit is None:
        return None
    key = _unit_key(unit.item() if isinstance(unit, np.ndarray) else unit)
    return None if key in NO_UNIT else key


@dataclass(frozen=True)
class ImageHeader:
    """What a file holds, without its pixels: ``shape`` ``(frames, h, w)``, ``pixel_size`` in Å (or ``None``)."""

    source: Path
    shape: tuple[int, int, int]
    pixel_size: float | None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Recording:
    """An image file's pixels, float64 ``data`` ``(frames, h, w)``, its ``pixel_size`` in Å (``None`` only when
    read with ``require_pixel_size=False`` from a file without one), the ``source`` path and ``metadata``: the
    file's own ``scale`` and ``unit``, ``dtype``, ``format``, ``shape``, ``pixel_size_from`` and format details."""

    data: np.ndarray
    pixel_size: float | None
    source: Path
    metadata: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)


@dataclass
class _Raw:
    """One format reader's answer: the array (``None`` for a header-only read), its shape, the file's x/y scale and
    unit, whether its last axis holds colour samples, and extra metadata."""

    data: Any
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None
    scale_y: float | None = None
    unit: str | None = None
    colour: bool = False
    meta: dict = field(default_factory=dict)


def read_image(
    path: str | os.PathLike,
    *,
    pixel_size: float | None = None,
    unit: str | None = None,
    require_pixel_size: bool = True,
    dataset: str | None = None,
) -> Recording:
    """Read ``path`` as float64 frames ``(frames, h, w)`` with its pixel size in Å (module docstring).

    ``pixel_size``/``unit`` override the file; ``unit`` alone re-reads the file's scale in that unit (for files
    that store a scale without a unit). ``dataset`` picks an HDF5 dataset / HyperSpy experiment / RosettaSciIO
    signal title where a file holds several. NaN or infinite pixels are an error (their count and first index).
    """
    path = Path(path)
    raw = _open(path, load=True, dataset=dataset)
    data = _frames(path, raw)
    bad = ~np.isfinite(data)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ImageFileError(
            f"{path}: {int(bad.sum())} NaN or infinite pixel(s) of {data.size}; the first at (frame, y, x) = {first}"
        )
    size, meta = _pixel_size(path, raw, pixel_size, unit, require_pixel_size)
    return Recording(data=data, pixel_size=size, source=path, metadata=meta)


def inspect_image(
    path: str | os.PathLike,
    *,
    pixel_size: float | None = None,
    unit: str | None = None,
    require_pixel_size: bool = True,
    dataset: str | None = None,
) -> ImageHeader:
    """The checks of :func:`read_image` that need no pixels (readable, format, shape, units, pixel size), reading
    only the header where the format allows it (npy, TIFF, PNG, HDF5; npz and RosettaSciIO files are read whole)."""
    path = Path(path)
    raw = _open(path, load=False, dataset=dataset)
    shape = _frame_shape(path, raw)
    size, meta = _pixel_size(path, raw, pixel_size, unit, require_pixel_size)
    return ImageHeader(source=path, shape=shape, pixel_size=size, metadata=meta)


def _open(path: Path, *, load: bool, dataset: str | None) -> _Raw:
    if not path.is_file():
        raise ImageFileError(f"image file not found: {path}")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ImageFileError(
            f"{path}: unsupported extension {path.suffix!r}; supported are {list(SUPPORTED_EXTENSIONS)}"
        )
    reader = {"npy": _npy, "npz": _npz, "tiff": _tiff, "png": _png, "hdf5": _hdf5, "rsciio": _rsciio}[kind]
    try:
        raw = reader(path, load, dataset)
    except ImageFileError:
        raise
    except ImportError as err:
        raise ImageFileError(f"{path}: cannot read {kind} files here ({err}); pip install causalphys[io]") from err
    except Exception as err:  # a corrupt or foreign file: whatever the library raised, named with the file
        raise ImageFileError(f"{path}: unreadable as {kind} ({type(err).__name__}: {err})") from err
    raw.meta.update(format=kind, dtype=raw.dtype, shape=tuple(int(s) for s in raw.shape))
    return raw


def _frame_shape(path: Path, raw: _Raw) -> tuple[int, int, int]:
    """``(frames, h, w)`` of ``raw``, after checking dtype, dimensions and colour."""
    kind = np.dtype(raw.dtype).kind
    if kind not in "biuf":
        hint = " (complex data: save abs() or the real part)" if kind == "c" else ""
        raise ImageFileError(f"{path}: pixels of dtype {raw.dtype} are not real numbers{hint}")
    shape = tuple(raw.shape[:-1]) if raw.colour else tuple(raw.shape)
    if len(shape) not in (2, 3) or min(shape[-2:]) < 2:
        raise ImageFileError(
            f"{path}: not an image or a stack of images: array shape {tuple(raw.shape)} (need (h, w) or "
            "(frames, h, w) with h, w >= 2)"
        )
    return (1, *shape) if len(shape) == 2 else shape


def _frames(path: Path, raw: _Raw) -> np.ndarray:
    shape = _frame_shape(path, raw)
    data = np.asarray(raw.data)
    if raw.colour:
        channels = data.shape[-1]
        colour = data[..., : 3 if channels >= 3 else 1]
        if channels in (2, 4) and np.any(data[..., -1] != data[..., -1].flat[0]):
            raise ImageFileError(f"{path}: translucent image (its alpha channel varies); save it without alpha")
        if np.any(colour != colour[..., :1]):
            raise ImageFileError(
                f"{path}: colour image ({channels} channels that differ); save the detector signal as a grey image"
            )
        data = data[..., 0]
    return np.ascontiguousarray(data, dtype=np.float64).reshape(shape)


def _pixel_size(
    path: Path, raw: _Raw, pixel_size: float | None, unit: str | None, require: bool
) -> tuple[float | None, dict]:
    meta = {**raw.meta, "scale": raw.scale, "unit": raw.unit}
    if raw.scale_y is not None and raw.scale is not None and pixel_size is None:
        meta["scale_y"] = raw.scale_y
        if not math.isclose(raw.scale, raw.scale_y, rel_tol=1e-3):
            raise ImageFileError(
                f"{path}: pixels are not square (x scale {raw.scale}, y scale {raw.scale_y} {raw.unit or ''}); "
                "resample the file to square pixels or give pixel_size"
            )
    if pixel_size is not None:
        meta["pixel_size_from"] = "override" + ("" if unit else " (Å)")
        return to_angstrom(pixel_size, unit or "Å", source=path), meta
    if raw.scale is not None and (unit or raw.unit):
        meta["pixel_size_from"] = "file scale, unit override" if unit else "file"
        return to_angstrom(raw.scale, unit or raw.unit, source=path), meta
    if not require:
        meta["pixel_size_from"] = None
        return None, meta
    found = f"a scale {raw.scale:g} without a unit" if raw.scale is not None else "no pixel size"
    fix = "give its unit (unit=nm, ...)" if raw.scale is not None else "give pixel_size= (with unit=)"
    raise ImageFileError(f"{path}: the {meta['format']} file stores {found}; {fix}")


# ---------------------------------------------------------------------------------------------- format readers
def _npy(path: Path, load: bool, dataset: str | None) -> _Raw:
    array = np.load(path, mmap_mode=None if load else "r", allow_pickle=False)
    return _Raw(np.asarray(array) if load else None, array.shape, str(array.dtype))


def _npz(path: Path, load: bool, dataset: str | None) -> _Raw:
    with np.load(path, allow_pickle=False) as archive:
        keys = [k for k in archive.files if k not in ("pixel_size", "unit")]
        key = dataset or next((k for k in ("image", "data") if k in keys), keys[0] if len(keys) == 1 else None)
        if key not in keys:
            raise ImageFileError(f"{path}: no array 'image' or 'data' (or the only array) among {archive.files}")
        array = archive[key]
        scale = float(archive["pixel_size"]) if "pixel_size" in archive.files else None
        unit = _file_unit(archive["unit"]) if "unit" in archive.files else None
    return _Raw(array, array.shape, str(array.dtype), scale, None, unit, meta={"array": key})


def _tiff(path: Path, load: bool, dataset: str | None) -> _Raw:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        page = tif.pages[0]
        tags = page.tags
        meta: dict = {"axes": series.axes, "series": len(tif.series)}
        res = [tags[k].value if k in tags else None for k in ("XResolution", "YResolution")]
        sx, sy = (r[1] / r[0] if r and r[0] else None for r in res)
        res_unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
        scale = unit = None
        imagej = tif.imagej_metadata or {}
        if "spacing" in imagej:
            meta["z_spacing"] = imagej["spacing"]
        if _file_unit(imagej.get("unit")) and sx is not None:
            scale, unit, meta["scale_from"] = sx, _file_unit(imagej["unit"]), "ImageJ unit + XResolution"
        elif tif.is_ome and (ome := _ome_physical_size(tif.ome_metadata or "")) is not None:
            scale, sy, unit = ome[0], ome[1], _file_unit(ome[2])
            meta["scale_from"] = "OME PhysicalSizeX"
        elif res_unit in (3, 4, 5) and sx is not None:
            scale, unit, meta["scale_from"] = sx, {3: "cm", 4: "mm", 5: "µm"}[res_unit], "resolution tags"
        elif res_unit == 2 and sx is not None:
            meta["print_dpi"] = 1 / sx  # a print resolution, not a pixel size
        elif res_unit == 1 and sx not in (None, 1.0):
            scale = sx  # a scale without a unit
        data = series.asarray() if load else None
        return _Raw(data, series.shape, str(series.dtype), scale, sy, unit, series.axes.endswith("S"), meta)


def _ome_physical_size(xml: str) -> tuple[float, float | None, str] | None:
    """``(x, y, unit)`` from the first ``Pixels`` element of OME-XML, or ``None`` where it has no PhysicalSizeX."""
    pixels = re.search(r"<(?:\w+:)?Pixels\b[^>]*>", xml)
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', pixels.group(0))) if pixels else {}
    if "PhysicalSizeX" not in attrs:
        return None
    y = float(attrs["PhysicalSizeY"]) if "PhysicalSizeY" in attrs else None
    return float(attrs["PhysicalSizeX"]), y, attrs.get("PhysicalSizeXUnit", "µm")


def _png(path: Path, load: bool, dataset: str | None) -> _Raw:
    from PIL import Image

    with Image.open(path) as image:
        if image.format != "PNG":
            raise ImageFileError(f"{path}: the file is {image.format}, not PNG")
        mode, (w, h) = image.mode, image.size
        if mode == "P":
            image, mode = image.convert("RGBA"), "RGBA"
        bands = len(image.getbands())
        data = np.asarray(image) if load else None
        dtype = str(data.dtype) if data is not None else {"I": "int32", "F": "float32"}.get(mode[0], "uint8")
        if mode.startswith("I;16"):
            dtype = "uint16"
    shape = (h, w, bands) if bands > 1 else (h, w)
    return _Raw(data, shape, dtype, colour=bands > 1, meta={"mode": mode})


def _hdf5(path: Path, load: bool, dataset: str | None) -> _Raw:
    import h5py

    with h5py.File(path, "r") as f:
        if "Experiments" in f and isinstance(f["Experiments"], h5py.Group):
            return _hyperspy(path, f["Experiments"], load, dataset)
        found: list[str] = []

        def collect(name: str, obj) -> None:
            if isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3):
                found.append(name)

        f.visititems(collect)
        if dataset is None and len(found) != 1:
            raise ImageFileError(f"{path}: {len(found)} 2-D/3-D datasets {found}; name one with dataset=")
        name = dataset or found[0]
        if name not in f or not isinstance(f[name], h5py.Dataset):
            raise ImageFileError(f"{path}: no dataset {name!r}; its 2-D/3-D datasets are {found}")
        ds = f[name]
        attrs = dict(ds.attrs)
        scale = next((float(attrs[k]) for k in ("pixel_size", "scale") if k in attrs), None)
        unit = next((_file_unit(attrs[k]) for k in ("unit", "units") if k in attrs), None)
        return _Raw(ds[()] if load else None, ds.shape, str(ds.dtype), scale, None, unit, meta={"dataset": name})


def _hyperspy(path: Path, experiments, load: bool, dataset: str | None) -> _Raw:
    names = list(experiments)
    if dataset is None and len(names) != 1:
        raise ImageFileError(f"{path}: HyperSpy file with {len(names)} experiments {names}; name one with dataset=")
    name = dataset or names[0]
    if name not in experiments or "data" not in experiments[name]:
        raise ImageFileError(f"{path}: no HyperSpy experiment {name!r} with data; experiments are {names}")
    group = experiments[name]
    ds = group["data"]
    axes = [dict(group[f"axis-{k}"].attrs) if f"axis-{k}" in group else {} for k in range(ds.ndim)]
    scale = unit = scale_y = None
    if ds.ndim >= 2:
        y, x = axes[-2], axes[-1]
        _check_signal_axes(path, [bool(y.get("navigate", False)), bool(x.get("navigate", False))], ds.shape)
        scale = float(x["scale"]) if "scale" in x else None
        scale_y = float(y["scale"]) if "scale" in y else None
        unit = _file_unit(x.get("units"))
    meta = {"experiment": name, "axes": [_axis(a.get("name"), a.get("scale"), a.get("units")) for a in axes]}
    return _Raw(ds[()] if load else None, ds.shape, str(ds.dtype), scale, scale_y, unit, meta=meta)


def _axis(name: object, scale: object, units: object) -> dict:
    """An axis's name, scale and unit as plain values, for ``metadata["axes"]``."""
    text = [v.decode() if isinstance(v, bytes) else v for v in (name, units)]
    return {"name": str(text[0] or ""), "scale": None if scale is None else float(scale), "units": _file_unit(text[1])}


def _check_signal_axes(path: Path, navigate: list[bool], shape: tuple[int, ...]) -> None:
    """The last two axes must be the image's (signal) axes, not navigation axes of a spectrum image."""
    if any(navigate):
        raise ImageFileError(
            f"{path}: not an image: of its array {tuple(shape)}, the last two axes are not both signal axes "
            f"(navigate = {navigate}); a spectrum image or line scan is not an image"
        )


def _rsciio(path: Path, load: bool, dataset: str | None) -> _Raw:
    try:
        import importlib

        reader = importlib.import_module(f"rsciio.{RSCIIO_PLUGINS[path.suffix.lower()]}").file_reader
    except ImportError as err:
        raise ImportError(f"RosettaSciIO (rsciio) is not installed: {err}") from err
    signals = [s for s in reader(str(path)) if np.ndim(s["data"]) in (2, 3)]
    titles = [str(s.get("metadata", {}).get("General", {}).get("title", "")) for s in signals]
    if dataset is not None:
        signals = [s for s, t in zip(signals, titles) if t == dataset]
    if len(signals) != 1:
        pick = f"no image signal titled {dataset!r}" if dataset is not None else f"{len(signals)} image signals"
        raise ImageFileError(f"{path}: {pick} (titles {titles}); name one with dataset=")
    signal, title = signals[0], titles[0] if dataset is None else dataset
    data = np.asarray(signal["data"])
    axes = list(signal["axes"])
    if all(a.get("index_in_array") is not None for a in axes):
        axes.sort(key=lambda a: int(a["index_in_array"]))
    y, x = axes[-2], axes[-1]
    _check_signal_axes(path, [bool(y.get("navigate", False)), bool(x.get("navigate", False))], data.shape)
    scale, scale_y, unit = float(x.get("scale", 1.0)), float(y.get("scale", 1.0)), _file_unit(x.get("units"))
    header = signal.get("original_metadata", {}).get("std_header", {})
    if path.suffix.lower() == ".mrc" and float(np.ravel(header.get("Xlen", [1.0]))[0]) == 0:
        scale = scale_y = unit = None  # MRC cell length 0: uncalibrated (rsciio reports 1 nm)
    meta = {"reader": f"rsciio.{RSCIIO_PLUGINS[path.suffix.lower()]}", "title": title}
    meta["axes"] = [_axis(a.get("name"), a.get("scale"), a.get("units")) for a in axes]
    return _Raw(data, data.shape, str(data.dtype), scale, scale_y, unit, meta=meta)
