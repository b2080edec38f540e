"""The column benchmark and the dense metrics: column maps scored as found columns in Å and pm."""

import math

import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.evaluation import metrics
from causalphys.evaluation.harness import evaluate_run, net_factory
from causalphys.microscopy.column_benchmark import ColumnBenchmark
from causalphys.microscopy.columns import map_peaks, score_maps
from causalphys.microscopy.scanners import load_scanners
from causalphys.nets import UNet
from causalphys.trainers import ERM
from tests.test_run import _compose


def gaussian(centres, shape=(24, 24), sigma=1.0):
    yy, xx = torch.meshgrid(torch.arange(float(shape[0])), torch.arange(float(shape[1])), indexing="ij")
    return sum(torch.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)) for x, y in centres)


def test_map_peaks_finds_gaussian_peaks_to_the_sub_pixel_per_map_and_channel():
    maps = torch.zeros(2, 2, 24, 24)
    maps[0, 0] = gaussian([(7.3, 11.8), (15.6, 4.25)])
    maps[1, 1] = 0.8 * gaussian([(12.0, 12.4)])
    maps[1, 0] = 0.2 * gaussian([(12.0, 12.0)])  # below min_height
    maps[0, 1] = gaussian([(8.5, 6.0)])  # midway between two pixels of equal value: one peak
    peaks = map_peaks(maps)
    assert sorted(map(tuple, peaks[0][0].round(4).tolist())) == [(7.3, 11.8), (15.6, 4.25)]
    assert peaks[0][1].shape == (1, 2)
    assert peaks[0][1][0].tolist() == pytest.approx([8.5, 6.0], abs=1e-4) and peaks[1][0].shape == (0, 2)
    assert peaks[1][1][0].tolist() == pytest.approx([12.0, 12.4], abs=1e-4)
    with pytest.raises(ParameterError, match="maps must be"):
        map_peaks(maps[0])
    with pytest.raises(ParameterError, match="window"):
        map_peaks(maps, window=4)


def test_score_maps_and_dense_metrics_count_columns_in_angstrom_and_pm():
    true = torch.stack([gaussian([(6.0, 6.0), (16.0, 6.0), (6.0, 16.0), (16.0, 16.0)])])[None]  # (1, 1, 24, 24)
    moved = torch.stack([gaussian([(6.5, 6.0), (16.0, 6.0), (6.0, 16.0)])])[None]  # one moved 0.5 px, one lost
    invented = moved + torch.stack([gaussian([(11.0, 11.0)])])[None]
    match = score_maps(invented, true, pixel_size=0.3, margin=0.6)
    assert (match.matched, match.false_positives, match.n_reference) == (3, 1, 4)
    assert match.median_error == pytest.approx(0.0, abs=1e-6)
    columns = {"function": "causalphys.microscopy.columns.column_metrics", "pixel_size": 0.3}
    out = metrics.dense_metrics(invented, true, columns)
    assert out["column_precision"] == pytest.approx(0.75) and out["column_recall"] == pytest.approx(0.75)
    assert out["column_f1"] == pytest.approx(0.75) and out["mse"] > 0
    # 0.5 px at 0.3 Å/px is 15 pm: the one moved column, the median of one error
    one = torch.stack([gaussian([(8.0, 8.0)])])[None]
    only = metrics.dense_metrics(torch.stack([gaussian([(8.5, 8.0)])])[None], one, columns)
    assert only["position_error_pm"] == pytest.approx(15.0, abs=0.01)
    assert set(metrics.dense_metrics(true, true)) == {"mse"}  # no map metrics named: maps only
    with pytest.raises(ParameterError, match="differ"):
        metrics.dense_metrics(true, true[..., :20])
    with pytest.raises(ParameterError, match=r"map_metrics.function must be the dotted path.*'nowhere.f'"):
        metrics.dense_metrics(true, true, {"function": "nowhere.f"})
    assert metrics.selection_metric("dense") == "column_f1"
    assert math.isnan(score_maps(torch.zeros_like(true), torch.zeros_like(true), 0.3).median_error)


def tiny(**kwargs) -> ColumnBenchmark:
    return ColumnBenchmark(load_scanners(), **({"n_train": 12, "n_val": 4, "n_test": 6, "image_size": 32} | kwargs))


def test_the_column_benchmark_makes_images_with_their_maps_seeded_and_views_with_their_own_maps():
    prior = _compose(["trainer=randomize"]).trainer.views.prior
    from hydra.utils import instantiate

    bench = tiny(views={"source": "prior", "prior": instantiate(prior), "per_unit": 3, "units": 5})
    data = bench.load(seed=0)
    again = bench.load(seed=0)
    assert data.task == "dense" and data.map_metrics["pixel_size"] == 0.3 and data.n_outputs == 2
    assert list(data.train) == ["corrected_200kv", "low_dose"] and list(data.test) == ["uncorrected_200kv",
                                                                                        "drifty_older"]  # fmt: skip
    x, y = data.train["low_dose"]
    assert x.shape == (12, 1, 32, 32) and y.shape == (12, 2, 32, 32) and data.val["low_dose"][0].shape[0] == 4
    assert torch.equal(x, again.train["low_dose"][0]) and torch.equal(y, again.train["low_dose"][1])
    assert not torch.equal(x, bench.load(seed=1).train["low_dose"][0])
    vx, vy = data.views["corrected_200kv"]
    assert vx.shape == (5, 3, 1, 32, 32) and vy.shape == (5, 3, 2, 32, 32)
    assert not torch.equal(vy[:, 0], vy[:, 1])  # each view its own map: the scan moved the columns
    assert data.info["drifty_older"].role == "test"


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"train": ["corrected_200kv", "nowhere"]}, r"benchmark.train: unknown scanner\(s\) \['nowhere'\]"),
        ({"test": ["low_dose"]}, r"\['low_dose'\] are in both"),
        ({"n_test": 0}, "benchmark.n_test must be a positive integer"),
        ({"pixel_size": -0.3}, "benchmark.pixel_size must be > 0"),
        ({"views": {"source": "scanners"}}, "benchmark.views.source must be 'prior'"),
        ({"train": []}, "benchmark.train must name at least one scanner"),
    ],
)
def test_bad_column_benchmark_settings_fail_before_any_data_and_name_the_key(settings, message):
    with pytest.raises(ParameterError, match=message):
        tiny(**settings).check()


def test_the_harness_scores_a_dense_learner_by_its_columns():
    data = tiny(n_train=24).load(seed=0)
    trainer = ERM(task="dense", steps=3, batch_size=4, seed=0, progress=False)
    rows = evaluate_run(data, trainer, net_factory(UNet, width=8, depth=1), run="r", trainer_name="erm", seed=0)
    got = {(r["env"], r["split"], r["metric"]): r["value"] for r in rows}
    for split, env in (("train", "corrected_200kv"), ("val", "low_dose"), ("test", "drifty_older")):
        assert 0.0 <= got[(env, split, "column_recall")] <= 1.0 and got[(env, split, "mse")] > 0


def test_scanner_presets_are_read_in_order_and_bad_ones_are_named():
    from causalphys.microscopy.scanners import preset_list

    scanners = load_scanners()
    by_name = {p.name: p for p in scanners}
    assert [p.name for p in preset_list(by_name)] == [p.name for p in scanners]
    with pytest.raises(ParameterError, match="benchmark.scanners has duplicate names"):
        preset_list([scanners[0], scanners[0]])
    with pytest.raises(ParameterError, match=r"benchmark.scanners must be scanner presets, got \['dict'\]"):
        preset_list([{"name": "x"}])
    with pytest.raises(ParameterError, match="got none"):
        ColumnBenchmark([])
