"""Files -> tiles: resampling keeps physical lengths, tiling counts, manifest and folder layouts, the tile cache."""

import math

import numpy as np
import pytest
import tifffile
import torch

from causalphys.data import images
from causalphys.data.images import (
    ImageEntry,
    ImageTiler,
    file_sha256,
    read_manifest,
    resample,
    resampled_shape,
    scan_folder,
    tile_frames,
)
from causalphys.errors import ParameterError


def sinusoid(n: int, pixel_size: float, period: float, *, along: int = 1) -> torch.Tensor:
    """``cos(2π x / period)`` sampled at pixel centres ``x = (i + 1/2)·pixel_size`` [Å], ``(1, n, n)``."""
    x = (torch.arange(n, dtype=torch.float64) + 0.5) * pixel_size
    wave = torch.cos(2 * math.pi * x / period)
    return (wave[None, :].expand(n, n) if along == 1 else wave[:, None].expand(n, n)).unsqueeze(0).clone()


def measured_period(frame: torch.Tensor, pixel_size: float) -> float:
    """The period [Å] of the strongest Fourier component of the mean row, refined by parabolic interpolation."""
    row = frame.mean(0).numpy()
    n = len(row) * 16  # zero-padded for a finer frequency grid
    power = np.abs(np.fft.rfft((row - row.mean()) * np.hanning(len(row)), n))
    k = int(power[1:].argmax()) + 1
    a, b, c = np.log(power[k - 1 : k + 2])
    k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return n * pixel_size / k


@pytest.mark.parametrize("p, t", [(0.13, 0.3), (0.1, 0.37), (0.3, 0.13), (0.25, 0.25)])
def test_resampling_keeps_a_4_angstrom_period(p, t):
    frames = sinusoid(round(60 / p), p, 4.0)
    out = resample(frames, p, t)
    assert tuple(out.shape) == (1, *resampled_shape(frames.shape[1], frames.shape[2], p, t))
    assert out.shape[-1] == math.floor(frames.shape[-1] * p / t)
    assert measured_period(out[0], t) == pytest.approx(4.0, rel=1e-4)  # a size-derived grid (n·p/m) is ~0.1 % off
    assert measured_period(frames[0], p) == pytest.approx(4.0, rel=1e-4)
    # the pixel grid keeps its physical origin: output pixel j samples x = (j + 1/2)·t, so the phase is kept too
    expected = sinusoid(out.shape[-1], t, 4.0)[0, 0, 5:-5]
    assert torch.allclose(out[0, out.shape[1] // 2, 5:-5], expected, atol=0.08)


def test_shrinking_is_anti_aliased():
    """A 0.5 Å period is beyond the Nyquist limit of 0.4 Å pixels (0.8 Å). Plain subsampling folds it into a false
    fringe at full amplitude; the anti-aliasing triangle filter (half-width t = 0.4 Å) passes
    sinc²(t/period) = sinc²(0.8) = 0.055 of it."""
    frames = sinusoid(400, 0.1, 0.5)
    out = resample(frames, 0.1, 0.4)
    naive = frames[:, 1::4, 1::4]  # plain subsampling on the same 0.4 Å grid
    assert naive.std() * math.sqrt(2) == pytest.approx(1.0, abs=0.02)
    amplitude = out[0, 5:-5, 5:-5].std() * math.sqrt(2)
    assert amplitude == pytest.approx(np.sinc(0.8) ** 2, rel=0.2)


def test_tiles_count_corners_and_never_cross_frames():
    frames = torch.arange(3, dtype=torch.float64)[:, None, None].expand(3, 50, 70).clone()
    tiles, index, corners = tile_frames(frames, 16, 12)
    per_frame = (math.floor((50 - 16) / 12) + 1) * (math.floor((70 - 16) / 12) + 1)  # 3 * 5
    assert tiles.shape == (3 * per_frame, 16, 16) and per_frame == 15
    assert index.tolist() == [0] * 15 + [1] * 15 + [2] * 15
    assert torch.equal(tiles.amax((1, 2)), index.double()) and torch.equal(tiles.amin((1, 2)), index.double())
    assert corners[:5].tolist() == [[0, 0], [0, 12], [0, 24], [0, 36], [0, 48]] and corners[14].tolist() == [24, 48]
    ramp = torch.arange(50 * 70, dtype=torch.float64).reshape(1, 50, 70)
    t, _, c = tile_frames(ramp, 16, 12)
    y, x = c[7].tolist()
    assert torch.equal(t[7], ramp[0, y : y + 16, x : x + 16])


def write_npy(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, data)
    return path


def test_manifest_paths_overrides_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    write_npy(tmp_path / "data" / "a.npy", rng.random((40, 40)))
    absolute = write_npy(tmp_path / "elsewhere" / "b.npy", rng.random((40, 40)))
    (tmp_path / "data" / "m.csv").write_text(
        "path,environment,label,pixel_size,unit,instrument,target\n"
        f"a.npy,lab1,cat,0.02,nm,Titan,\n{absolute},lab2,dog,,,ARM,1.5\n"
    )
    col = read_manifest(tmp_path / "data" / "m.csv")
    a, b = col.entries
    assert a.path == tmp_path / "data" / "a.npy" and b.path == absolute
    assert (a.environment, a.label, a.pixel_size, a.unit, a.target) == ("lab1", "cat", 0.02, "nm", None)
    assert (b.pixel_size, b.unit, b.target, b.metadata) == (None, None, 1.5, {"instrument": "ARM"})
    assert col.environments == ("lab1", "lab2") and col.files("lab2") == [b]


@pytest.mark.parametrize(
    "text, message",
    [
        ("file,environment\na.npy,x\n", r"m\.csv lacks column\(s\) \['path'\]"),
        ("path,environment,pixel_size\na.npy,x,small\n", r"m\.csv line 2: column 'pixel_size' must be a number"),
        ("path,environment\na.npy,x\n,y\n", r"m\.csv line 3: empty 'path' or 'environment'"),
        ("path,environment\na.npy,x\n./a.npy,y\n", r"line 3: .*a\.npy is listed twice \(also on line 2\)"),
    ],
)
def test_bad_manifests_name_the_line(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ParameterError, match=message):
        read_manifest(tmp_path / "m.csv")


def test_folder_layout_with_and_without_labels(tmp_path):
    for rel in ("lab1/cat/1.npy", "lab1/cat/2.npy", "lab1/dog/1.npy", "lab2/x.npy", "lab3/y.npy"):
        write_npy(tmp_path / rel, np.zeros((8, 8)))
    (tmp_path / "lab2" / "notes.txt").write_text("ignored")
    (tmp_path / "lab2" / ".hidden.npy").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    col = scan_folder(tmp_path)
    assert col.environments == ("empty", "lab1", "lab2", "lab3")
    assert [(e.environment, e.label, e.path.name) for e in col.entries] == [
        ("lab1", "cat", "1.npy"),
        ("lab1", "cat", "2.npy"),
        ("lab1", "dog", "1.npy"),
        ("lab2", None, "x.npy"),
        ("lab3", None, "y.npy"),
    ]
    assert col.files("empty") == []
    write_npy(tmp_path / "lab1" / "loose.npy", np.zeros((8, 8)))
    with pytest.raises(ParameterError, match=r"lab1 mixes image files \(loose\.npy, \.\.\.\) with label folders"):
        scan_folder(tmp_path)
    with pytest.raises(ParameterError, match="image folder not found"):
        scan_folder(tmp_path / "nope")


def test_pixel_size_order_entry_file_default_unit_default_size(tmp_path):
    np.savez(tmp_path / "unitless.npz", image=np.zeros((64, 64)), pixel_size=10.0)
    np.save(tmp_path / "bare.npy", np.zeros((64, 64)))
    tiler = ImageTiler(0.3, 16, default_unit="nm")
    assert tiler.inspect(ImageEntry(tmp_path / "unitless.npz", "e"))[0] == pytest.approx(100.0)  # file scale in nm
    assert tiler.inspect(ImageEntry(tmp_path / "unitless.npz", "e", unit="pm"))[0] == pytest.approx(0.1)
    with pytest.raises(ParameterError, match=r"bare\.npy .*stores no pixel size.*default_pixel_size"):
        tiler.inspect(ImageEntry(tmp_path / "bare.npy", "e", origin="row 2"))
    fallback = ImageTiler(0.3, 16, default_pixel_size=0.02, default_unit="nm")
    assert fallback.inspect(ImageEntry(tmp_path / "bare.npy", "e"))[0] == pytest.approx(0.2)
    assert fallback.inspect(ImageEntry(tmp_path / "bare.npy", "e", pixel_size=0.5))[0] == 0.5  # entry wins (Å)
    assert ImageTiler(0.3, 16, default_pixel_size=0.7).inspect(ImageEntry(tmp_path / "bare.npy", "e"))[0] == 0.7


def test_a_tile_larger_than_the_image_names_the_file_and_both_sizes(tmp_path):
    np.save(tmp_path / "small.npy", np.zeros((100, 120)))
    entry = ImageEntry(tmp_path / "small.npy", "e", pixel_size=0.1)
    tiler = ImageTiler(0.3, 64)  # 100 x 120 px at 0.1 Å = 33 x 40 px at 0.3 Å
    message = r"small\.npy: tile 64 px \(19\.2 Å\) is larger than the image: 100x120 px at 0\.1 Å = 33x40 px at 0\.3"
    with pytest.raises(ParameterError, match=message):
        tiler.inspect(entry)
    with pytest.raises(ParameterError, match=message):
        tiler.file_tiles(entry)
    assert ImageTiler(0.3, 32).inspect(entry) == (0.1, (1, 33, 40))


def test_file_tiles_resample_then_tile(tmp_path):
    data = np.random.default_rng(1).random((2, 90, 130))
    tifffile.imwrite(
        tmp_path / "s.tif", data.astype(np.float32), imagej=True, resolution=(50, 50), metadata={"unit": "nm"}
    )
    ft = ImageTiler(0.3, 16, 8).file_tiles(ImageEntry(tmp_path / "s.tif", "e"))  # 0.2 Å -> 0.3 Å: 60 x 86 px
    assert ft.pixel_size_in == pytest.approx(0.2) and ft.shape_in == (2, 90, 130) and ft.shape_out == (2, 60, 86)
    assert len(ft.tiles) == 2 * (math.floor((60 - 16) / 8) + 1) * (math.floor((86 - 16) / 8) + 1)
    assert ft.tiles.dtype == torch.float64 and not ft.cached
    expected = resample(torch.from_numpy(data.astype(np.float32).astype(np.float64)), 0.2, 0.3)
    y, x = ft.corners[-1].tolist()
    assert torch.equal(ft.tiles[-1], expected[1, y : y + 16, x : x + 16])
    assert ft.sha256 == file_sha256(tmp_path / "s.tif")


def test_the_cache_hits_and_is_invalidated_by_a_changed_file_or_setting(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    path = write_npy(tmp_path / "img.npy", rng.random((64, 64)))
    entry = ImageEntry(path, "e", pixel_size=0.2)
    reads = []
    real_read = images.read_image
    monkeypatch.setattr(images, "read_image", lambda *a, **k: reads.append(a[0]) or real_read(*a, **k))
    tiler = ImageTiler(0.3, 16, cache_dir=tmp_path / "cache")
    first = tiler.file_tiles(entry)
    again = tiler.file_tiles(entry)
    assert len(reads) == 1 and not first.cached and again.cached
    assert torch.equal(first.tiles, again.tiles) and torch.equal(first.corners, again.corners)
    assert again.shape_out == first.shape_out and again.pixel_size_in == first.pixel_size_in
    assert len(list((tmp_path / "cache").glob("tiles-*.pt"))) == 1
    assert not list((tmp_path / "cache").glob(".*tmp"))  # atomic write left no temporary file
    np.save(path, rng.random((64, 64)))  # same name, same size, new content
    changed = tiler.file_tiles(entry)
    assert len(reads) == 2 and not changed.cached and not torch.equal(changed.tiles, first.tiles)
    assert tiler.key(entry, first.sha256) != tiler.key(entry, changed.sha256)
    ImageTiler(0.3, 16, 8, cache_dir=tmp_path / "cache").file_tiles(entry)  # another stride: another key
    ImageTiler(0.3, 16, cache_dir=tmp_path / "cache").file_tiles(ImageEntry(path, "e", pixel_size=0.25))
    assert len(reads) == 4 and len(list((tmp_path / "cache").glob("tiles-*.pt"))) == 4
    for f in (tmp_path / "cache").glob("tiles-*.pt"):
        f.write_bytes(b"garbage")  # a corrupt cache file is rebuilt, never trusted
    assert torch.equal(tiler.file_tiles(entry).tiles, changed.tiles) and len(reads) == 5


def test_progress_bar_over_files(tmp_path, capsys):
    entries = [ImageEntry(write_npy(tmp_path / f"{i}.npy", np.zeros((32, 32))), "e", pixel_size=0.3) for i in range(3)]
    out = ImageTiler(0.3, 16).tiles(entries, progress=True)
    assert [len(f.tiles) for f in out] == [4, 4, 4]
    assert "image files" in capsys.readouterr().err
