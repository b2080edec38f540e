"""ImageBenchmark: image files of several instruments -> BenchmarkData, through a manifest or a folder layout, with
raw tiles in physical units, a frame-wise seeded split, label checks, check() errors and the Hydra config."""

import math

import numpy as np
import pytest
import tifffile
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from causalphys.data import ImageBenchmark
from causalphys.data.benchmark import BenchmarkData
from causalphys.errors import CausalPhysError, ParameterError
from causalphys.run import CONF_DIR, run

PERIOD = {"square": 3.9, "hex": 2.8, "1": 3.0, "2": 2.5, "10": 2.0}


def lattice(label: str, n: int, pixel_size: float, rng) -> np.ndarray:
    """Fringes of the label's period [Å] at a random angle and phase, ``(n, n)`` at ``pixel_size`` Å."""
    y, x = (np.mgrid[0:n, 0:n] + 0.5) * pixel_size
    angle, phase = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
    return 100 * np.cos(2 * np.pi / PERIOD[label] * (np.cos(angle) * x + np.sin(angle) * y) + phase)


def make_files(tmp_path, *, envs=None, frames=2, fov=12.0, roles=True, extra_rows=()):
    """Two instruments (0.2 Å TIFFs with ImageJ units; 0.35 Å .npy files with the pixel size in the manifest), two
    files per label, ``frames`` frames of ``fov`` Å each; returns the manifest path."""
    rng = np.random.default_rng(0)
    envs = envs or {"scope_a": ("square", "hex"), "scope_b": ("square", "hex")}
    rows = ["path,environment,label,pixel_size,unit,role,instrument"]
    for k, (env, labels) in enumerate(envs.items()):
        p = 0.2 if k % 2 == 0 else 0.35
        (tmp_path / env).mkdir(exist_ok=True)
        for label in labels:
            for i in range(2):
                n = round(fov / p)
                data = np.stack([lattice(label, n, p, rng) + 1000 * (k + 1) for _ in range(frames)]).astype(np.float32)
                role = ("train" if k == 0 else "test") if roles else ""
                if p == 0.2:
                    name = f"{label}_{i}.tif"
                    meta = {"unit": "nm", "axes": "ZYX"}
                    tifffile.imwrite(tmp_path / env / name, data, imagej=True, resolution=(50, 50), metadata=meta)
                    rows.append(f"{env}/{name},{env},{label},,,{role},Titan")
                else:
                    name = f"{label}_{i}.npy"
                    np.save(tmp_path / env / name, data)
                    rows.append(f"{env}/{name},{env},{label},0.035,nm,{role},ARM")
    rows += list(extra_rows)
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "manifest.csv"


def bench(manifest, **kw) -> ImageBenchmark:
    kw.setdefault("tile", 16)
    return ImageBenchmark(str(manifest), **kw)


def test_load_shapes_labels_standardisation_and_info(tmp_path):
    b = bench(make_files(tmp_path))
    b.check()
    data = b.load(0)
    assert isinstance(data, BenchmarkData) and data.task == "classification" and data.counterfactual == {}
    assert list(data.train) == ["scope_a"] and list(data.test) == ["scope_b"] and data.input_shape == (1, 16, 16)
    # 12 Å at 0.3 Å = 40 px: 2 x 2 tiles of 16 px per frame, 2 frames per file, 4 files per environment
    assert len(data.train["scope_a"][0]) + len(data.val["scope_a"][0]) == 32 and len(data.test["scope_b"][0]) == 32
    assert b.classes_ == ["hex", "square"] and data.n_outputs == 2
    for x, y in (*data.train.values(), *data.val.values(), *data.test.values()):
        assert x.dtype == torch.float32 and y.dtype == torch.long and x.shape[1:] == (1, 16, 16)
        flat = x.reshape(len(x), -1)
        assert torch.allclose(flat.mean(1), torch.zeros(len(x)), atol=1e-5)
        assert torch.allclose(flat.std(1), torch.ones(len(x)), atol=1e-4)
    info = data.info["scope_b"]
    assert info.role == "test" and "hex_0.npy" in info.description and "instrument=ARM" in info.description
    assert "pixel size 0.35 Å resampled to 0.3 Å" in info.description and "16x16 px, stride 16" in info.description
    assert data.info["scope_a"].role == "train" and "0.2 Å" in data.info["scope_a"].description


def test_raw_tiles_keep_physical_units_and_normalisation_is_last(tmp_path):
    b = bench(make_files(tmp_path))
    raw = b.tiles()
    a, s = raw["scope_a"], raw["scope_b"]
    assert a.images.dtype == torch.float64 and a.images.shape == (32, 16, 16) and a.pixel_size == 0.3
    assert 900 < a.images.mean() < 1100 and 1900 < s.images.mean() < 2100  # raw intensities (offsets 1000, 2000)
    assert a.role == "train" and s.role == "test" and len(a.sources) == 32 and a.sources[0].endswith("square_0.tif")
    assert a.labels.tolist()[:8] == [1] * 8 and a.frames.tolist()[:8] == [0] * 4 + [1] * 4
    assert a.corners[:4].tolist() == [[0, 0], [0, 16], [16, 0], [16, 16]]
    data = b.assemble(b.split(raw, 0))
    loaded = b.load(0)
    assert torch.equal(data.test["scope_b"][0], loaded.test["scope_b"][0])
    x = s.images.float()
    by_hand = ((x - x.mean((1, 2), keepdim=True)) / x.std((1, 2), keepdim=True)).unsqueeze(1)
    assert torch.allclose(loaded.test["scope_b"][0], by_hand, atol=1e-5)


def test_the_period_in_raw_tiles_is_physical(tmp_path):
    """One file at 0.2 Å, one at 0.35 Å, both of 3.9 Å fringes along x: after resampling to 0.3 Å both tiles show
    the fringe at 3.9 / 0.3 = 13 px."""
    for name, p in (("a", 0.2), ("b", 0.35)):
        n = round(40 / p)
        x = (np.arange(n) + 0.5) * p
        np.save(tmp_path / f"{name}.npy", np.tile(np.cos(2 * np.pi * x / 3.9), (n, 1)))
    (tmp_path / "m.csv").write_text("path,environment,label,pixel_size\na.npy,a,s,0.2\nb.npy,b,s,0.35\n")
    raw = ImageBenchmark(str(tmp_path / "m.csv"), train=["a"], tile=128, split_by="tile").tiles()
    for t in raw.values():
        row = t.images[0].mean(0).numpy()
        spectrum = np.abs(np.fft.rfft(row - row.mean(), 128 * 64))
        assert 128 * 64 / spectrum.argmax() == pytest.approx(13.0, rel=0.01)


def test_the_split_keeps_frames_whole_and_is_seeded(tmp_path):
    b = bench(make_files(tmp_path, frames=3), val_fraction=0.25)
    raw = b.tiles()
    parts = b.split(raw, 0)
    train, val = parts["train"]["scope_a"], parts["val"]["scope_a"]
    frames = lambda t: set(zip(t.sources, t.frames.tolist()))  # noqa: E731
    assert not frames(train) & frames(val) and len(frames(val)) == round(0.25 * 12) and len(val) == 3 * 4
    assert len(train) + len(val) == len(raw["scope_a"]) and set(parts["test"]) == {"scope_b"}
    again, other = b.split(raw, 0), b.split(raw, 1)
    assert torch.equal(again["val"]["scope_a"].images, val.images)
    assert frames(other["val"]["scope_a"]) != frames(val)
    by_tile = bench(tmp_path / "manifest.csv", split_by="tile", val_fraction=0.25).split(raw, 0)
    assert len(by_tile["val"]["scope_a"]) == round(0.25 * 48)


def test_too_few_frames_to_split(tmp_path):
    manifest = make_files(tmp_path, envs={"a": ("square",), "b": ("square",)}, frames=1)
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([lines[0], lines[1], *lines[3:]]) + "\n")  # one file, one frame left in "a"
    with pytest.raises(ParameterError, match=r"training environment 'a' has 1 frame\(s\).*split_by=tile"):
        bench(manifest).load(0)
    assert len(bench(manifest, split_by="tile").load(0).val["a"][0]) == 1  # 4 tiles: 1 to validation


def test_roles_from_settings_or_the_role_column(tmp_path):
    envs = {"a": ("square", "hex"), "b": ("square", "hex"), "c": ("square", "hex")}
    manifest = make_files(tmp_path, envs=envs, roles=False)
    with pytest.raises(ParameterError, match=r"name the training environments: set train .*\['a', 'b', 'c'\]"):
        bench(manifest).check()
    b = bench(manifest, train=["a", "c"])
    assert b.roles(b.collection()) == (["a", "c"], ["b"])
    b = bench(manifest, train=["b"], test=["a"])  # c is left out
    data = b.load(0)
    assert list(data.train) == ["b"] and list(data.test) == ["a"]
    with pytest.raises(ParameterError, match=r"test environment\(s\) \['z'\] are not in .*manifest\.csv"):
        bench(manifest, train=["a"], test=["z"]).check()
    with pytest.raises(ParameterError, match=r"\['a'\] are in both train and test"):
        bench(manifest, train=["a"], test=["a", "b"]).check()
    text = manifest.read_text().replace(",,Titan", ",train,Titan").replace(",nm,,ARM", ",nm,test,ARM")
    manifest.write_text(text)  # a and c (TIFFs) train, b (npy) test
    b = bench(manifest)
    assert b.roles(b.collection()) == (["a", "c"], ["b"])
    manifest.write_text(text.replace("a/hex_1.tif,a,hex,,,train", "a/hex_1.tif,a,hex,,,test"))
    with pytest.raises(ParameterError, match=r"environment 'a' of .* has role\(s\) \['test', 'train'\]"):
        bench(manifest).check()


def test_classes_default_given_and_bad_labels(tmp_path):
    manifest = make_files(tmp_path, envs={"a": ("10", "2", "1"), "b": ("1", "2")})
    b = bench(manifest)
    data = b.load(0)
    assert b.classes_ == ["1", "2", "10"]  # numbers in numeric order
    y = torch.cat([data.test["b"][1]])
    assert sorted(set(y.tolist())) == [0, 1]
    b = bench(manifest, classes=["10", "2", "1", "unused"])
    assert b.tiles()["b"].labels.tolist()[:8] == [2] * 8  # label "1" is class 2
    with pytest.raises(ParameterError, match=r"labels \['10'\] of environment 'a' are not in classes"):
        bench(manifest, classes=["1", "2"]).check()
    only_test = make_files(tmp_path, envs={"a": ("square",), "b": ("square", "hex")})
    with pytest.raises(ParameterError, match=r"label 'hex' occurs only in test environment 'b'"):
        bench(only_test).check()


def test_regression_targets_and_unlabelled_files(tmp_path):
    manifest = make_files(tmp_path)
    text = manifest.read_text().splitlines()
    rows = [text[0] + ",target"] + [f"{r},{0.5 * i}" for i, r in enumerate(text[1:])]
    manifest.write_text("\n".join(rows) + "\n")
    data = bench(manifest, task="regression").load(0)
    assert data.test["scope_b"][1].dtype == torch.float32 and data.n_outputs == 1
    assert data.test["scope_b"][1][:8].tolist() == [2.0] * 8  # row 5: target 2.0
    (tmp_path / "u").mkdir()
    no_labels = make_files(tmp_path / "u")
    no_labels.write_text(no_labels.read_text().replace(",square,", ",,").replace(",hex,", ",,"))
    with pytest.raises(ParameterError, match=r"square_0\.tif .*has no label; .*labelled=false"):
        bench(no_labels).check()
    data = bench(no_labels, labelled=False).load(0)
    assert all((y == -1).all() for _, y in (*data.train.values(), *data.test.values()))
    raw = bench(no_labels, labelled=False, task="regression").tiles()
    assert torch.isnan(raw["scope_a"].labels).all()


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(root="x"), "set exactly one of manifest and root"),
        (dict(tile=0), "tile must be a positive integer"),
        (dict(tile=8.5), "tile must be a positive integer"),
        (dict(stride=-2), "stride must be a positive integer or null"),
        (dict(pixel_size=-0.3), "pixel_size must be a positive finite number"),
        (dict(val_fraction=1.0), r"val_fraction must be a number in \(0, 1\)"),
        (dict(task="ranking"), "task must be one of"),
        (dict(split_by="file"), "split_by must be one of"),
        (dict(default_unit="furlong"), r"unknown length unit 'furlong' \(file default_unit\)"),
        (dict(classes=["a", "a"]), "classes must be a non-empty list of distinct labels"),
        (dict(train=[]), "train is empty"),
        (dict(train="scope_a"), "train must be a list of names"),
        (dict(name=""), "name must be a non-empty string"),
    ],
)
def test_bad_settings_are_named_before_reading_files(kw, message):
    with pytest.raises(ParameterError, match=message):
        ImageBenchmark("/does/not/matter.csv", **kw).check_settings()


def test_check_names_the_bad_file_or_environment(tmp_path):
    manifest = make_files(tmp_path)
    good = manifest.read_text()
    cases = [
        (good + "scope_b/gone.npy,scope_b,hex,0.035,nm,test,ARM\n", r"image file not found: .*gone\.npy"),
        (good.replace("hex_1.npy,scope_b,hex,0.035,nm", "hex_1.npy,scope_b,hex,0.035,furlong"),
         r"unknown length unit 'furlong' \(file .*hex_1\.npy\)"),
        (good.replace("hex_1.npy,scope_b,hex,0.035,nm", "hex_1.npy,scope_b,hex,,"),
         r"hex_1\.npy .*stores no pixel size"),
        (good.replace("hex_1.npy,scope_b,hex,0.035,nm", "hex_1.npy,scope_b,hex,0.001,nm"),
         r"hex_1\.npy: tile 16 px .* is larger than the image: 34x34 px at 0\.01 Å = 1x1 px"),
    ]  # fmt: skip
    for text, message in cases:
        manifest.write_text(text)
        with pytest.raises(ParameterError, match=message):
            bench(manifest).check()
    manifest.write_text(good)
    (tmp_path / "scope_b" / "hex_0.npy").write_bytes(b"not an array" * 10)
    with pytest.raises(ParameterError, match=r"hex_0\.npy: unreadable as npy"):
        bench(manifest).check()


def test_folder_layout_and_an_environment_without_files(tmp_path):
    make_files(tmp_path)
    (tmp_path / "manifest.csv").unlink()
    for file in sorted(tmp_path.glob("scope_*/*.*")):  # root/<environment>/<label>/<file>
        (file.parent / file.stem.split("_")[0]).mkdir(exist_ok=True)
        file.rename(file.parent / file.stem.split("_")[0] / file.name)
    b = ImageBenchmark(root=str(tmp_path), train=["scope_a"], tile=16, default_pixel_size=0.035, default_unit="nm")
    data = b.load(0)
    assert b.classes_ == ["hex", "square"] and len(data.test["scope_b"][0]) == 32  # npy files: the default 0.35 Å
    (tmp_path / "scope_c").mkdir()
    b = ImageBenchmark(root=str(tmp_path), train=["scope_a"], tile=16, default_pixel_size=0.35)
    with pytest.raises(ParameterError, match=r"environment 'scope_c' of .* has no image files"):
        b.check()


def test_fingerprint_follows_contents_and_settings(tmp_path):
    manifest = make_files(tmp_path)
    first = bench(manifest).fingerprint()
    assert bench(manifest).fingerprint() == first and len(first) == 16
    assert bench(manifest, cache_dir=str(tmp_path / "c")).fingerprint() == first  # where tiles are cached: no change
    assert bench(manifest, tile=32).fingerprint() != first
    assert bench(manifest, pixel_size=0.25).fingerprint() != first
    data = np.load(tmp_path / "scope_b" / "hex_0.npy")
    np.save(tmp_path / "scope_b" / "hex_0.npy", data + 1)
    assert bench(manifest).fingerprint() != first


def test_the_tile_cache_gives_the_same_data(tmp_path):
    manifest = make_files(tmp_path)
    cold = bench(manifest, cache_dir=str(tmp_path / "cache")).load(3)
    warm = bench(manifest, cache_dir=str(tmp_path / "cache")).load(3)
    assert len(list((tmp_path / "cache").glob("tiles-*.pt"))) == 8
    for split in ("train", "val", "test"):
        for env, (x, y) in getattr(cold, split).items():
            assert torch.equal(x, getattr(warm, split)[env][0]) and torch.equal(y, getattr(warm, split)[env][1])


def test_the_hydra_config_runs_the_harness(tmp_path):
    manifest = make_files(tmp_path)
    overrides = ["benchmark=images", f"benchmark.manifest={manifest}", "benchmark.tile=32", "trainer=erm"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*overrides, "steps=2", "progress=false"])
    cfg.results_dir = str(tmp_path / "results")
    b = instantiate(cfg.benchmark)
    assert isinstance(b, ImageBenchmark) and (b.pixel_size, b.tile, b.stride, b.root) == (0.3, 32, None, None)
    rows = run(cfg, tmp_path / "run", "run", "erm")
    text = rows.read_text()
    assert "scope_b,test,accuracy" in text and "scope_a,val,accuracy" in text
    accuracy = [float(r.split(",")[-2]) for r in text.splitlines() if "scope_b,test,accuracy" in r]
    assert len(accuracy) == 1 and 0 <= accuracy[0] <= 1 and not math.isnan(accuracy[0])


def test_a_run_over_changed_files_is_not_taken_for_finished(tmp_path):
    """The files' contents are part of the run's hash and of the data cache's key: after a file changes, a rerun
    into the same folder trains on the new data instead of skipping (or reading the old data from the cache)."""
    manifest = make_files(tmp_path)
    overrides = ["benchmark=images", f"benchmark.manifest={manifest}", "benchmark.tile=32", "steps=2", "progress=false"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    cfg.results_dir = str(tmp_path / "results")
    first = run(cfg, tmp_path / "results" / "run", "run", "erm")
    stamp = first.stat().st_mtime_ns
    assert run(cfg, tmp_path / "results" / "run", "run", "erm").stat().st_mtime_ns == stamp  # unchanged: skipped
    path = tmp_path / "scope_b" / "hex_0.npy"
    np.save(path, np.load(path)[::-1].copy())
    with pytest.raises(CausalPhysError, match="another configuration"):  # the folder holds the old data's results
        run(cfg, tmp_path / "results" / "run", "run", "erm")
    second = run(cfg, tmp_path / "results" / "run2", "run2", "erm")
    assert len(list((tmp_path / "results" / ".cache").glob("*"))) == 2  # the old data were not reused
    assert second.read_text() != first.read_text()


RECORDED = {"probe_sigma": 0.6, "dose": 2e4, "black_level": 0.0, "gain": 1.0}  # the fringes have no columns to fit


def _prior():
    from omegaconf import OmegaConf

    from causalphys.microscopy.scanners import ScannerPreset

    raw = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "prior" / "physics.yaml"))
    raw.pop("_target_")
    return ScannerPreset(**raw)


def test_views_re_image_recorded_training_tiles_only_as_far_as_is_physical(tmp_path):
    """Issue 20 §3: the physics learners on the user's own images — each training tile re-imaged under the prior,
    restricted to what the recording allows (no probe narrower, no dose higher than recorded)."""
    from causalphys.data.reimaging import physical_ranges
    from causalphys.microscopy.recorded import RecordedInstrument

    b = bench(make_files(tmp_path), recorded=RECORDED, views={"source": "prior", "prior": _prior(), "per_unit": 3})
    b.check()
    data = b.load(0)
    x, y = data.views["scope_a"]
    train_x, train_y = data.train["scope_a"]
    assert x.shape == (len(train_x), 3, 1, 16, 16) and torch.equal(y, train_y)
    assert not torch.equal(x[:, 0], x[:, 1]) and not torch.equal(x[:, 0], train_x)
    assert torch.allclose(x.mean(dim=(-1, -2)), torch.zeros(1), atol=1e-4)  # standardised like every tile
    assert torch.equal(b.load(0).views["scope_a"][0], x)  # same seed, same views
    ranges = physical_ranges(_prior(), RecordedInstrument(pixel_size=0.3, probe_sigma=0.6, dose=2e4))
    assert ranges["probe_sigma"] == (0.6, 1.4) and ranges["dose"] == (1e3, 2e4)  # physics prior 0.3-1.4, 1e3-1e6
    with pytest.raises(ParameterError, match="re-imaged under a prior"):
        bench(make_files(tmp_path), views={"source": "scanners"}).check_settings()


def test_the_physics_learner_trains_on_recorded_images_through_the_harness(tmp_path):
    manifest = make_files(tmp_path)
    overrides = ["benchmark=images", f"benchmark.manifest={manifest}", "benchmark.tile=32", "trainer=randomize"]
    overrides += [f"+benchmark.recorded.{k}={v}" for k, v in RECORDED.items()] + ["trainer.views.per_unit=2"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*overrides, "steps=2", "progress=false"])
    cfg.results_dir = str(tmp_path / "results")
    rows = run(cfg, tmp_path / "run", "run", "randomize").read_text()
    assert "scope_b,test,accuracy" in rows
