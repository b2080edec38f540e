"""The results store: atomic writes, 'finished' means results.csv exists, other configs are never overwritten."""

import csv
import json

import pytest
import torch

from causalphys.evaluation.store import RunFolder, StoreError, cached_data, config_hash, rows_to_csv

ROW = {
    "run": "r",
    "trainer": "erm",
    "env": "test",
    "split": "test",
    "metric": "accuracy",
    "value": 0.5,
    "selection": "none",
}


def test_config_hash_ignores_key_order_and_sees_values():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_a_run_is_finished_only_once_its_results_are_written(tmp_path):
    folder = RunFolder(tmp_path / "run", "h1")
    assert not folder.finished()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text(json.dumps({"hash": "h1"}))  # killed after run.json
    assert not folder.finished()
    folder.write({"run": "r"}, [ROW])
    assert folder.finished()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["hash"] == "h1"
    rows = list(csv.DictReader((tmp_path / "run" / "results.csv").open()))
    assert rows[0]["metric"] == "accuracy" and float(rows[0]["value"]) == 0.5
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]


def test_results_of_another_config_are_refused_not_overwritten(tmp_path):
    RunFolder(tmp_path, "h1").write({}, [ROW])
    before = (tmp_path / "results.csv").read_text()
    with pytest.raises(StoreError, match="holds the results of another configuration"):
        RunFolder(tmp_path, "h2").finished()
    assert (tmp_path / "results.csv").read_text() == before


def test_rows_must_have_every_column():
    with pytest.raises(StoreError, match=r"lacks column\(s\) \['selection'\]"):
        rows_to_csv([{k: v for k, v in ROW.items() if k != "selection"}])


def test_cached_data_is_bit_identical_and_an_unreadable_cache_is_rebuilt(tmp_path):
    from .tiny import tiny_benchmark

    calls = []

    def build():
        calls.append(1)
        return tiny_benchmark(n_train=8, n_val=4, n_test=8, n_counterfactual=4).load(0)

    first = cached_data(tmp_path, "k", build)
    second = cached_data(tmp_path, "k", build)
    assert len(calls) == 1
    assert torch.equal(first.test["test"][0], second.test["test"][0])
    assert second.info["test"] == first.info["test"]
    assert torch.equal(first.counterfactual["train_a"][0], second.counterfactual["train_a"][0])
    (tmp_path / "k.pt").write_bytes(b"garbage")
    cached_data(tmp_path, "k", build)
    assert len(calls) == 2


def test_the_cache_keeps_every_field_of_the_data(tmp_path):
    """A cached copy holds what the built data hold — the pairs of a content learner, the classes a benchmark to
    score on names — not only the tensors of the splits (a run that read them from the cache lost both)."""
    import dataclasses

    from causalphys.data.benchmark import BenchmarkData, EnvironmentInfo

    x, y = torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)
    views = [torch.ones(2, 1, 8, 8), torch.full((2, 1, 8, 8), 2.0)]
    built = BenchmarkData(
        {"a": (x, y)}, {"a": (x, y)}, {"b": (x, y)}, {"a": EnvironmentInfo("train"), "b": EnvironmentInfo("test")},
        counterfactual={"b": views}, pairs={"a": views}, n_classes=3,
    )  # fmt: skip
    cached_data(tmp_path, "k", lambda: built)
    again = cached_data(tmp_path, "k", lambda: pytest.fail("the cache was not read"))
    assert again.n_classes == 3 and again.n_outputs == 3
    assert torch.equal(again.pairs["a"][1], views[1]) and torch.equal(again.counterfactual["b"][0], views[0])
    assert [f.name for f in dataclasses.fields(again)] == [f.name for f in dataclasses.fields(built)]


def test_a_run_folder_is_held_by_one_process_at_a_time(tmp_path):
    """Claims conflict (flock, also between two descriptors of one process): the same configuration is busy (its
    caller skips), another configuration fails loudly; the lock goes with the claim."""
    from causalphys.evaluation.store import RunBusy

    folder = RunFolder(tmp_path / "run", "aaaa")
    with folder.claim():
        with pytest.raises(RunBusy, match="same configuration"):
            with RunFolder(tmp_path / "run", "aaaa").claim():
                pass
        with pytest.raises(StoreError, match=r"another configuration \(hash aaaa, this one bbbb\)"):
            with RunFolder(tmp_path / "run", "bbbb").claim():
                pass
    with RunFolder(tmp_path / "run", "bbbb").claim():  # released: free for the next
        pass
