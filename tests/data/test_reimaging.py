"""An image benchmark's shifts re-image its recorded tiles (causalphys.data.reimaging): level 0 is the recording,
lower doses add noise, the re-imaged environments come with counterfactual views that the harness scores without
labels, and a benchmark with test environments only scores a model without training one."""

import csv

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

import causalphys as cp
from causalphys.cli.evaluate import evaluate
from causalphys.data import ImageBenchmark
from causalphys.errors import ParameterError
from causalphys.evaluation import NodeValues, evaluate_run, net_factory, score_model
from causalphys.microscopy.degradation import Degradation
from causalphys.run import CONF_DIR

RECORDED = {"probe_sigma": 0.5, "dose": 1.0e5}  # given, so nothing is estimated from the fringes
SHIFT = Degradation({"probe_sigma": 1.2, "dose": 1.0e3}, levels=[0.0, 1.0], name="worse")


def columns(n: int, pixel_size: float, a: float, rng) -> np.ndarray:
    """Gaussian columns (σ 0.5 Å) on a square lattice of spacing ``a`` Å, above a black level, ``(n, n)``."""
    y, x = (np.mgrid[0:n, 0:n] + 0.5) * pixel_size
    dx, dy = rng.uniform(0, a, 2)
    u, v = (x - dx) % a - a / 2, (y - dy) % a - a / 2
    return 900.0 + 3000.0 * np.exp(-(u**2 + v**2) / (2 * 0.5**2))


def make_manifest(tmp_path, *, train=True) -> str:
    """Scope A (training, two files per class) and scope B (test): 0.1 Å npy files, 'square' a = 3.9 Å and 'wide'
    a = 5.5 Å; with ``train=False`` only scope B."""
    rng = np.random.default_rng(0)
    rows = ["path,environment,label,pixel_size,unit"]
    for env in ("scope_a", "scope_b") if train else ("scope_b",):
        for label, a in (("square", 3.9), ("wide", 5.5)):
            for i in range(2):
                name = f"{env}_{label}_{i}.npy"
                np.save(tmp_path / name, columns(200, 0.1, a, rng)[None])
                rows.append(f"{name},{env},{label},0.1,Å")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return str(tmp_path / "manifest.csv")


def bench(manifest, **kw) -> ImageBenchmark:
    kw = {"train": ["scope_a"], "tile": 32, "stride": 16, "recorded": RECORDED, "shifts": [SHIFT], **kw}
    return ImageBenchmark(manifest, **kw)


def test_level_zero_is_the_recording_and_the_worse_instrument_differs(tmp_path):
    data = bench(make_manifest(tmp_path)).load(0)
    assert list(data.test) == ["scope_b", "worse=0", "worse=1"]
    x, y = data.test["scope_b"]
    assert torch.equal(data.test["worse=0"][0], x) and torch.equal(data.test["worse=0"][1], y)
    assert not torch.allclose(data.test["worse=1"][0], x, atol=0.1)
    assert data.info["worse=1"].shift == "worse" and data.info["worse=1"].level == 1.0
    assert "scope_b re-imaged" in data.info["worse=1"].description and "probe σ 0.5 Å (given)" in (
        data.info["worse=1"].description
    )
    # counterfactual views of a re-imaged environment: the source tiles and the same tiles re-imaged, unit by unit
    source, reimaged = data.counterfactual["worse=1"]
    assert torch.equal(source, x) and torch.equal(reimaged, data.test["worse=1"][0])


def test_the_levels_of_a_dose_sweep_add_noise_and_share_their_draws(tmp_path):
    sweep = NodeValues("dose", levels=[3.0e4, 3.0e3, 3.0e2], base_lab=None, name="dose")
    first = bench(make_manifest(tmp_path), shifts=[sweep]).load(0)
    again = bench(make_manifest(tmp_path), shifts=[sweep]).load(0)
    x = first.test["scope_b"][0]
    noise = [float((first.test[f"dose={d:g}"][0] - x).std()) for d in (3.0e4, 3.0e3, 3.0e2)]
    assert noise[0] < noise[1] < noise[2]
    for env in first.test:  # the same seed gives the same re-imaged tiles
        assert torch.equal(first.test[env][0], again.test[env][0])


def test_bad_shifts_and_requests_the_recording_cannot_answer_are_refused(tmp_path):
    manifest = make_manifest(tmp_path)
    with pytest.raises(ParameterError, match=r"base_lab 'scope_z' is not a test environment.*\['scope_b'\]"):
        bench(manifest, shifts=[Degradation({"dose": 1.0e3}, levels=[1.0], base_lab="scope_z")]).load(0)
    with pytest.raises(ParameterError, match=r"shift 'dose'.*dose=1e\+06.*dose"):
        bench(manifest, shifts=[NodeValues("dose", levels=[1.0e6], base_lab=None)]).load(0)
    with pytest.raises(ParameterError, match=r"names node\(s\) \['dosage'\]"):
        bench(manifest, shifts=[Degradation({"dosage": 1.0e3}, levels=[1.0])]).load(0)
    # the recorded benchmark checks every environment's instrument settings, whichever shift made them
    with pytest.raises(ParameterError, match=r"shift 'dose': dose must be > 0, got 0.0"):
        bench(manifest, shifts=[NodeValues("dose", levels=[1.0e3, 0.0], base_lab=None)]).load(0)
    with pytest.raises(ParameterError, match=r"toward\['probe_tail_fraction'\]: .*lie in \[0, 1\], got 1.5"):
        Degradation({"probe_tail_fraction": 1.5})
    with pytest.raises(ParameterError, match="benchmark.recorded"):
        bench(manifest, recorded={"resolution": 0.5}).load(0)
    with pytest.raises(ParameterError, match="shifts must be shifts"):
        bench(manifest, shifts=["dose"]).check()


def test_a_benchmark_without_training_environments_scores_a_model_and_trains_none(tmp_path):
    manifest = make_manifest(tmp_path, train=False)
    with pytest.raises(ParameterError, match="give classes"):
        bench(manifest, train=[], classes=None).check()
    data = bench(manifest, train=[], classes=["square", "wide", "other"]).load(0)
    assert data.train == {} and data.n_outputs == 3 and data.input_shape == (1, 32, 32)
    net = cp.nets.SmallCNN(in_channels=1, n_outputs=3, width=8)
    rows = score_model(net, data, run="mine", model_name="mine", seed=0)
    flips = {r["env"]: r for r in rows if r["metric"] == "cf_flip_rate"}
    assert set(flips) == {"worse=0", "worse=1"} and {r["split"] for r in flips.values()} == {"test"}
    assert flips["worse=0"]["value"] == 0.0  # the recording itself: no prediction changes
    with pytest.raises(ParameterError, match="no training environment"):
        evaluate_run(data, cp.ERM(steps=1, progress=False), net_factory(cp.nets.SmallCNN, width=8), run="r",
                     trainer_name="erm", seed=0)  # fmt: skip


def test_causalphys_evaluate_scores_a_file_on_recorded_tiles_and_their_re_imaged_versions(tmp_path):
    manifest = make_manifest(tmp_path, train=False)
    model = tmp_path / "net.pt"
    torch.save(cp.nets.SmallCNN(in_channels=1, n_outputs=2, width=8), model)
    overrides = [
        f"model={model}",
        "benchmark=images",
        f"benchmark.manifest={manifest}",
        "benchmark.train=[]",
        "benchmark.classes=[square,wide]",
        "benchmark.tile=32",
        "+benchmark.recorded.probe_sigma=0.5",
        "+benchmark.recorded.dose=1e5",
        "shift=reimaged_dose",
        "shift.levels=[1e4,1e3]",
        "progress=false",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=overrides)
    cfg.results_dir = str(tmp_path / "results")
    with open(evaluate(cfg, tmp_path / "results" / "net", "net")) as f:
        rows = list(csv.DictReader(f))
    envs = {(r["env"], r["split"], r["metric"]) for r in rows}
    assert {("dose=1000", "test", "accuracy"), ("dose=1000", "test", "cf_flip_rate")} <= envs
    assert ("scope_b", "test", "accuracy") in envs
