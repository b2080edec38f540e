"""Image readers: every format round-trips its pixels and its pixel size (read back in Å), overrides win, and every
bad file is a ParameterError that names the file."""

import sys

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from causalphys.data.readers import (
    SUPPORTED_EXTENSIONS,
    ImageFileError,
    Recording,
    inspect_image,
    read_image,
    to_angstrom,
)
from causalphys.errors import ParameterError


def image(shape=(20, 30), seed=0, dtype=np.float32) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * 1000).astype(dtype)


def check(rec: Recording, data: np.ndarray, pixel_size: float | None) -> None:
    frames = data.reshape((1, *data.shape)) if data.ndim == 2 else data
    assert rec.data.dtype == np.float64 and rec.shape == frames.shape
    np.testing.assert_array_equal(rec.data, frames.astype(np.float64))
    if pixel_size is None:
        assert rec.pixel_size is None
    else:
        assert rec.pixel_size == pytest.approx(pixel_size, rel=1e-6)


# ---------------------------------------------------------------------------------------------- units
@pytest.mark.parametrize(
    "unit, factor",
    [("Å", 1), ("\u212b", 1), ("A", 1), ("angstrom", 1), ("nm", 10), ("NM", 10), ("pm", 0.01), ("µm", 1e4)]
    + [("\u03bcm", 1e4), ("um", 1e4), ("micron", 1e4), ("m", 1e10), ("cm", 1e8), (" nm ", 10)],
)
def test_to_angstrom_converts_every_accepted_unit(unit, factor):
    assert to_angstrom(0.25, unit) == pytest.approx(0.25 * factor)


def test_unknown_units_and_bad_values_are_named():
    with pytest.raises(ParameterError, match=r"unknown length unit 'furlong' \(file scan\.tif\); accepted .*'nm'"):
        to_angstrom(1.0, "furlong", source="scan.tif")
    with pytest.raises(ParameterError, match=r"unknown length unit '1/nm'"):
        to_angstrom(1.0, "1/nm")
    for bad in (0, -1.0, float("nan"), float("inf"), "0.1", True):
        with pytest.raises(ParameterError, match="pixel size must be"):
            to_angstrom(bad, "nm")


# ---------------------------------------------------------------------------------------------- numpy
def test_npy_needs_an_override_and_overrides_set_the_pixel_size(tmp_path):
    data = image((2, 20, 30))
    path = tmp_path / "stack.npy"
    np.save(path, data)
    with pytest.raises(ParameterError, match=r"stack\.npy: the npy file stores no pixel size; give pixel_size"):
        read_image(path)
    check(read_image(path, require_pixel_size=False), data, None)
    check(read_image(path, pixel_size=0.2), data, 0.2)  # Å when no unit
    rec = read_image(path, pixel_size=0.02, unit="nm")
    check(rec, data, 0.2)
    assert rec.metadata["pixel_size_from"] == "override" and rec.metadata["format"] == "npy"
    assert rec.metadata["dtype"] == "float32" and rec.source == path


def test_npz_keys_pixel_size_and_unit(tmp_path):
    data = image()
    np.savez(tmp_path / "a.npz", image=data, pixel_size=0.05, unit="nm", other=np.zeros(3))
    check(read_image(tmp_path / "a.npz"), data, 0.5)
    np.savez(tmp_path / "b.npz", data=data, pixel_size=1.5)  # a scale without a unit
    with pytest.raises(ParameterError, match=r"b\.npz: the npz file stores a scale 1\.5 without a unit"):
        read_image(tmp_path / "b.npz")
    check(read_image(tmp_path / "b.npz", unit="pm"), data, 0.015)  # unit alone: the file's scale in that unit
    np.savez(tmp_path / "c.npz", frames=data)  # the only array
    check(read_image(tmp_path / "c.npz", pixel_size=0.3), data, 0.3)
    np.savez(tmp_path / "d.npz", a=data, b=data)
    with pytest.raises(ParameterError, match=r"d\.npz: no array 'image' or 'data'"):
        read_image(tmp_path / "d.npz", pixel_size=0.3)
    check(read_image(tmp_path / "d.npz", pixel_size=0.3, dataset="b"), data, 0.3)


def test_overrides_win_over_the_file(tmp_path):
    np.savez(tmp_path / "a.npz", image=image(), pixel_size=0.05, unit="nm")
    rec = read_image(tmp_path / "a.npz", pixel_size=3.0, unit="pm")
    assert rec.pixel_size == pytest.approx(0.03) and rec.metadata["scale"] == 0.05 and rec.metadata["unit"] == "nm"
    assert read_image(tmp_path / "a.npz", unit="µm").pixel_size == pytest.approx(500.0)


# ---------------------------------------------------------------------------------------------- TIFF
def test_tiff_imagej_unit_and_resolution(tmp_path):
    data = image((3, 20, 30))
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / 0.02, 1 / 0.02), metadata={"unit": "nm", "spacing": 2.0})
    rec = read_image(path)
    check(rec, data, 0.2)
    assert rec.metadata["z_spacing"] == 2.0 and rec.metadata["scale_from"].startswith("ImageJ")
    tifffile.imwrite(tmp_path / "micron.tif", data[0], imagej=True, resolution=(100, 100), metadata={"unit": "micron"})
    check(read_image(tmp_path / "micron.tif"), data[0], 100.0)


def test_tiff_resolution_tags_ome_and_uncalibrated(tmp_path):
    data = image()
    tifffile.imwrite(tmp_path / "cm.tif", data, resolution=(2e8, 2e8), resolutionunit="CENTIMETER")
    check(read_image(tmp_path / "cm.tif"), data, 0.5)  # 2e8 pixels per cm: 5e-9 cm
    ome = {"PhysicalSizeX": 0.04, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 0.04, "PhysicalSizeYUnit": "nm"}
    tifffile.imwrite(tmp_path / "a.ome.tif", data, ome=True, metadata=ome)
    check(read_image(tmp_path / "a.ome.tif"), data, 0.4)
    tifffile.imwrite(tmp_path / "dpi.tif", data, resolution=(72, 72), resolutionunit="INCH")
    rec = read_image(tmp_path / "dpi.tif", require_pixel_size=False)
    check(rec, data, None)  # 72 dpi is a print setting, not a pixel size
    assert rec.metadata["print_dpi"] == pytest.approx(72)
    tifffile.imwrite(tmp_path / "plain.tif", data)
    with pytest.raises(ParameterError, match=r"plain\.tif: the tiff file stores no pixel size"):
        read_image(tmp_path / "plain.tif")
    check(read_image(tmp_path / "plain.tif", pixel_size=0.1, unit="nm"), data, 1.0)


def test_non_square_pixels_are_an_error_unless_overridden(tmp_path):
    tifffile.imwrite(tmp_path / "skew.tif", image(), imagej=True, resolution=(10, 20), metadata={"unit": "nm"})
    with pytest.raises(ParameterError, match=r"skew\.tif: pixels are not square"):
        read_image(tmp_path / "skew.tif")
    assert read_image(tmp_path / "skew.tif", pixel_size=0.5).pixel_size == 0.5


# ---------------------------------------------------------------------------------------------- PNG and colour
def test_png_grey_8_and_16_bit(tmp_path):
    grey = image(dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    check(read_image(tmp_path / "g.png", pixel_size=0.25), grey, 0.25)
    deep = (image() * 60).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")
    check(read_image(tmp_path / "d.png", pixel_size=0.25), deep, 0.25)
    with pytest.raises(ParameterError, match=r"g\.png: the png file stores no pixel size"):
        read_image(tmp_path / "g.png")


def test_colour_images_grey_as_rgb_is_read_real_colour_is_an_error(tmp_path):
    grey = image(dtype=np.uint8)
    Image.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "rgb_grey.png")
    check(read_image(tmp_path / "rgb_grey.png", pixel_size=1.0), grey, 1.0)
    colour = np.stack([grey, grey[::-1], grey], -1)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    with pytest.raises(ParameterError, match=r"colour\.png: colour image \(3 channels that differ\)"):
        read_image(tmp_path / "colour.png", pixel_size=1.0)
    alpha = np.concatenate([np.stack([grey] * 3, -1), grey[..., None]], -1)
    Image.fromarray(alpha).save(tmp_path / "alpha.png")
    with pytest.raises(ParameterError, match=r"alpha\.png: translucent image"):
        read_image(tmp_path / "alpha.png", pixel_size=1.0)
    tifffile.imwrite(tmp_path / "colour.tif", colour, photometric="rgb")
    with pytest.raises(ParameterError, match=r"colour\.tif: colour image"):
        read_image(tmp_path / "colour.tif", pixel_size=1.0)


# ---------------------------------------------------------------------------------------------- HDF5
def test_plain_hdf5_with_one_or_several_datasets(tmp_path):
    data = image((2, 20, 30))
    with h5py.File(tmp_path / "one.h5", "w") as f:
        ds = f.create_dataset("scan/haadf", data=data)
        ds.attrs["pixel_size"], ds.attrs["unit"] = 25.0, "pm"
        f.create_dataset("scan/profile", data=np.zeros(5))  # 1-D: not a candidate
    check(read_image(tmp_path / "one.h5"), data, 0.25)
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"], f["b"] = data, data[0]
    with pytest.raises(ParameterError, match=r"two\.h5: 2 2-D/3-D datasets \['a', 'b'\]; name one with dataset="):
        read_image(tmp_path / "two.h5", pixel_size=1.0)
    check(read_image(tmp_path / "two.h5", pixel_size=1.0, dataset="b"), data[0], 1.0)


def write_hyperspy(path, data, scale, units, navigate_last=False):
    """A HyperSpy file as HyperSpy lays it out (written with h5py): one axis-k group per array axis k."""
    with h5py.File(path, "w") as f:
        f.attrs["file_format"] = "HyperSpy"
        group = f.create_group("Experiments/scan")
        group["data"] = data
        for k, size in enumerate(data.shape):
            attrs = group.create_group(f"axis-{k}").attrs
            attrs["size"], attrs["offset"] = size, 0.0
            attrs["scale"] = scale if k >= data.ndim - 2 else 1.0
            attrs["navigate"] = k < data.ndim - 2 if not navigate_last else k != 0
            if units is not None:
                attrs["units"] = units


def test_hyperspy_layout_stack_signal_axes_last(tmp_path):
    data = image((4, 20, 30))
    write_hyperspy(tmp_path / "stack.hspy", data, 0.0125, "nm")
    rec = read_image(tmp_path / "stack.hspy")
    check(rec, data, 0.125)
    assert rec.metadata["experiment"] == "scan" and rec.metadata["axes"][-1]["units"] == "nm"
    write_hyperspy(tmp_path / "nounit.hdf5", data[0], 0.0125, None)
    with pytest.raises(ParameterError, match=r"nounit\.hdf5: .* stores a scale 0\.0125 without a unit"):
        read_image(tmp_path / "nounit.hdf5")
    check(read_image(tmp_path / "nounit.hdf5", unit="nm"), data[0], 0.125)
    write_hyperspy(tmp_path / "si.hspy", data, 0.0125, "nm", navigate_last=True)  # a spectrum image
    with pytest.raises(ParameterError, match=r"si\.hspy: not an image"):
        read_image(tmp_path / "si.hspy")


@pytest.mark.real_data
def test_the_real_stem_recording(stem_file):
    rec = read_image(stem_file, unit="nm")
    assert rec.shape == (1, 400, 380) and rec.data.dtype == np.float64
    assert rec.pixel_size == pytest.approx(0.09326, rel=1e-4)  # 0.009326 nm
    assert rec.metadata["dtype"] == "float16" and rec.metadata["unit"] is None and np.isfinite(rec.data).all()
    assert rec.data.std() > 0
    with pytest.raises(ParameterError, match=rf"{stem_file.name}: .*without a unit; give its unit"):
        read_image(stem_file)
    header = inspect_image(stem_file, unit="nm")
    assert header.shape == (1, 400, 380) and header.pixel_size == rec.pixel_size


# ---------------------------------------------------------------------------------------------- RosettaSciIO
def rsciio_signal(data, scale, units="nm"):
    nav = [{"name": "t", "size": data.shape[0], "scale": 1.0, "offset": 0.0, "units": "", "navigate": True}]
    sig = [
        {"name": n, "size": s, "scale": scale, "offset": 0.0, "units": units, "navigate": False}
        for n, s in zip("yx", data.shape[-2:])
    ]
    return {
        "data": data,
        "axes": (nav if data.ndim == 3 else []) + sig,
        "metadata": {"General": {"title": "haadf"}, "Signal": {"signal_type": ""}},
        "original_metadata": {},
        "tmp_parameters": {},
        "attributes": {"_lazy": False},
        "learning_results": {},
        "package_info": {"name": "causalphys-test", "version": "0"},
        "models": {},
    }


def test_files_written_by_rosettasciio(tmp_path):
    from rsciio.emd import file_writer as write_emd
    from rsciio.hspy import file_writer as write_hspy
    from rsciio.tiff import file_writer as write_tiff

    data = image((3, 20, 30))
    write_hspy(str(tmp_path / "a.hspy"), rsciio_signal(data, 0.05))  # read by our h5py reader
    check(read_image(tmp_path / "a.hspy"), data, 0.5)
    write_tiff(str(tmp_path / "a.tif"), rsciio_signal(data[0], 2.0, "pm"))  # read by our tifffile reader
    check(read_image(tmp_path / "a.tif"), data[0], 0.02)
    write_emd(str(tmp_path / "a.emd"), rsciio_signal(data, 0.0002, "µm"))  # read through rsciio
    rec = read_image(tmp_path / "a.emd")
    check(rec, data, 2.0)
    assert rec.metadata["reader"] == "rsciio.emd" and rec.metadata["title"] == "haadf"


def write_mrc(path, data, cell_angstrom):
    """An MRC2014 file (mode 2, float32) written from the standard's word layout, without any MRC library."""
    nz, ny, nx = data.shape
    header = np.zeros(256, dtype="<i4")
    header[0:4] = nx, ny, nz, 2
    header[7:10] = nx, ny, nz
    header[10:13] = np.array([cell_angstrom * nx, cell_angstrom * ny, cell_angstrom * nz], "<f4").view("<i4")
    header[13:16] = np.array([90, 90, 90], "<f4").view("<i4")
    header[16:19] = 1, 2, 3
    header[52] = np.frombuffer(b"MAP ", "<i4")[0]
    header[53] = np.frombuffer(bytes([0x44, 0x44, 0, 0]), "<i4")[0]
    path.write_bytes(header.tobytes() + data.astype("<f4").tobytes())


def test_mrc_through_rosettasciio(tmp_path):
    data = image((2, 20, 30))
    write_mrc(tmp_path / "a.mrc", data, 1.5)
    check(read_image(tmp_path / "a.mrc"), data, 1.5)
    write_mrc(tmp_path / "blank.mrc", data, 0.0)  # cell length 0: uncalibrated (rsciio would say 1 nm)
    with pytest.raises(ParameterError, match=r"blank\.mrc: the rsciio file stores no pixel size"):
        read_image(tmp_path / "blank.mrc")


def test_missing_rosettasciio_says_how_to_install_it(tmp_path, monkeypatch):
    write_mrc(tmp_path / "a.mrc", image((1, 20, 30)), 1.0)
    monkeypatch.setitem(sys.modules, "rsciio.mrc", None)  # import rsciio.mrc now raises ImportError
    with pytest.raises(ParameterError, match=r"a\.mrc: .*pip install causalphys\[io\]"):
        read_image(tmp_path / "a.mrc")


# ---------------------------------------------------------------------------------------------- bad files
def test_missing_unsupported_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(ParameterError, match=r"image file not found: .*nothing\.tif"):
        read_image(tmp_path / "nothing.tif")
    (tmp_path / "scan.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ParameterError, match=r"scan\.jpg: unsupported extension '\.jpg'; supported are .*'\.dm4'"):
        read_image(tmp_path / "scan.jpg")
    assert {".npy", ".npz", ".tif", ".tiff", ".png", ".h5", ".hdf5", ".hspy", ".dm3", ".dm4", ".ser", ".emd"} <= set(
        SUPPORTED_EXTENSIONS
    )
    for name in ("bad.tif", "bad.png", "bad.h5", "bad.npy", "bad.npz", "bad.dm3", "bad.ser", "bad.emd"):
        (tmp_path / name).write_bytes(b"this is not an image file at all" * 4)
        with pytest.raises(ParameterError, match=rf"{name.replace('.', '[.]')}: unreadable as"):
            read_image(tmp_path / name, pixel_size=1.0)
    assert issubclass(ImageFileError, ParameterError)


def test_nan_pixels_are_counted_with_the_first_index(tmp_path):
    data = image((2, 20, 30)).astype(np.float64)
    data[1, 3, 4], data[1, 5, 0], data[1, 7, 7] = np.nan, np.inf, -np.inf
    np.save(tmp_path / "holes.npy", data)
    with pytest.raises(ParameterError, match=r"holes\.npy: 3 NaN or infinite pixel\(s\) of 1200; .*\(1, 3, 4\)"):
        read_image(tmp_path / "holes.npy", pixel_size=1.0)


@pytest.mark.parametrize("shape", [(50,), (2, 3, 20, 30), (1, 20), (20, 1)])
def test_arrays_that_are_not_images(tmp_path, shape):
    np.save(tmp_path / "odd.npy", np.zeros(shape))
    with pytest.raises(ParameterError, match=rf"odd\.npy: not an image or a stack of images: array shape \({shape[0]}"):
        read_image(tmp_path / "odd.npy", pixel_size=1.0)


def test_complex_pixels_are_an_error(tmp_path):
    np.save(tmp_path / "wave.npy", np.ones((20, 30), dtype=np.complex64))
    with pytest.raises(ParameterError, match=r"wave\.npy: pixels of dtype complex64 .*abs\(\)"):
        read_image(tmp_path / "wave.npy", pixel_size=1.0)


def test_inspect_reads_the_header_like_read_image(tmp_path):
    data = image((5, 20, 30))
    np.save(tmp_path / "a.npy", data)
    tifffile.imwrite(tmp_path / "a.tif", data, imagej=True, resolution=(10, 10), metadata={"unit": "nm"})
    Image.fromarray(data[0].astype(np.uint8)).save(tmp_path / "a.png")
    for name, kw in (("a.npy", {"pixel_size": 0.5}), ("a.tif", {}), ("a.png", {"pixel_size": 2.0})):
        header, rec = inspect_image(tmp_path / name, **kw), read_image(tmp_path / name, **kw)
        assert header.shape == rec.shape and header.pixel_size == rec.pixel_size
        assert header.metadata["format"] == rec.metadata["format"]
    with pytest.raises(ParameterError, match=r"a\.npy: the npy file stores no pixel size"):
        inspect_image(tmp_path / "a.npy")
