from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from causalphys.data.benchmark import BenchmarkData
from causalphys.data.tabular import TabularBenchmark
from causalphys.errors import ParameterError

REPO = Path(__file__).resolve().parents[2]
SACHS_YAML = REPO / "conf" / "benchmark" / "sachs.yaml"
SACHS_CSV = REPO.parent / "shared" / "data" / "sachs" / "sachs_14conditions.csv"


def make_frame(n: int = 40) -> pd.DataFrame:
    """Four sites of ``n`` rows; sites 3 and 4 have shifted, wider features (so test rows are not standardised)."""
    rng = np.random.default_rng(0)
    parts = []
    for site in (1, 2, 3, 4):
        shift = 0.0 if site < 3 else 5.0
        a = rng.uniform(0, 2, n) + shift
        b = rng.uniform(1, 3, n) * (1 + shift)
        parts.append(
            pd.DataFrame(
                {
                    "site": site,
                    "note": "x",
                    "a": a,
                    "b": b,
                    "c": rng.integers(0, 5, n),
                    "y": a + 2 * b,
                    "label": rng.choice(["zebra", "ant", "mole"], n),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "data.csv"
    make_frame().to_csv(path, index=False)
    return path


def bench(path, **kw) -> TabularBenchmark:
    settings = dict(environment="site", target="y", train_envs=[1, 2], task="regression")
    settings.update(kw)
    return TabularBenchmark(str(path), **settings)


def write(tmp_path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "edited.csv"
    frame.to_csv(path, index=False)
    return path


def test_shapes_dtypes_and_info(csv):
    data = bench(csv).load(0)
    assert isinstance(data, BenchmarkData) and data.task == "regression" and data.counterfactual == {}
    assert list(data.train) == ["site=1", "site=2"] and list(data.test) == ["site=3", "site=4"]
    for split in (data.train, data.val, data.test):
        for x, y in split.values():
            assert x.dtype == torch.float32 and x.shape[1:] == (3,)  # a, b, c: numeric, not site/y/note
            assert y.dtype == torch.float32 and y.shape == (len(x),)
    assert [len(data.train[e][0]) for e in data.train] == [32, 32] and [len(data.val[e][0]) for e in data.val] == [8, 8]
    assert all(len(x) == 40 for x, _ in data.test.values())
    info = data.info["site=3"]
    assert (info.role, info.shift, info.level, info.description) == ("test", "environment", None, "site=3")
    assert data.info["site=1"].role == "train"


def test_explicit_features_drop_and_test_envs(csv):
    b = bench(csv, features=["b", "a"], test_envs=["4"], standardize=False)
    data = b.load(0)
    assert b.features_ == ["b", "a"] and list(data.test) == ["site=4"]
    frame = make_frame()
    x, _ = data.test["site=4"]
    assert torch.allclose(x, torch.tensor(frame.loc[frame.site == 4, ["b", "a"]].to_numpy(), dtype=torch.float32))
    assert bench(csv, drop=["c"]).load(0).input_shape == (2,)


def test_seeded_split_is_deterministic(csv):
    a, b, c = bench(csv).load(0), bench(csv).load(0), bench(csv).load(1)
    assert torch.equal(a.train["site=1"][0], b.train["site=1"][0]) and torch.equal(
        a.val["site=2"][1], b.val["site=2"][1]
    )
    assert not torch.equal(a.val["site=1"][1], c.val["site=1"][1])
    capped, again = bench(csv, max_rows_per_env=10).load(3), bench(csv, max_rows_per_env=10).load(3)
    assert len(capped.test["site=3"][0]) == 10 and len(capped.train["site=1"][0]) + len(capped.val["site=1"][0]) == 10
    assert torch.equal(capped.test["site=3"][0], again.test["site=3"][0])
    assert not torch.equal(capped.test["site=3"][0], bench(csv, max_rows_per_env=10).load(4).test["site=3"][0])


def test_standardisation_uses_the_training_rows_only(csv):
    b = bench(csv)
    data = b.load(0)
    train = torch.cat([x for x, _ in data.train.values()])
    assert torch.allclose(train.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(train.std(0, unbiased=False), torch.ones(3), atol=1e-4)
    val = torch.cat([x for x, _ in data.val.values()])
    assert not torch.allclose(val.mean(0), torch.zeros(3), atol=1e-5)  # validation rows did not enter mean_
    test = torch.cat([x for x, _ in data.test.values()])
    assert (test.mean(0)[:2] > 2).all()  # shifted sites stay shifted
    raw = bench(csv, standardize=False).load(0)
    assert torch.allclose(data.test["site=3"][0], (raw.test["site=3"][0] - b.mean_) / b.std_, atol=1e-5)
    assert b.mean_.shape == (3,)


def test_classification_maps_sorted_values_to_indices(csv):
    b = bench(csv, target="label", task="classification")
    data = b.load(0)
    assert b.classes_ == ["ant", "mole", "zebra"] and data.n_outputs == 3
    frame = make_frame()
    x, y = bench(csv, target="label", task="classification", test_envs=[3, 4]).load(0).test["site=3"]
    assert y.dtype == torch.long and y.shape == (40,)
    assert y.tolist() == [b.classes_.index(v) for v in frame.loc[frame.site == 3, "label"]]


def test_log_transform(csv, tmp_path):
    frame = make_frame()
    data = bench(csv, log_transform=True, standardize=False, features=["a"]).load(0)
    x, y = data.test["site=4"]
    rows = frame.site == 4
    assert torch.allclose(x[:, 0], torch.tensor(np.log1p(frame.loc[rows, "a"].to_numpy()), dtype=torch.float32))
    assert torch.allclose(y, torch.tensor(np.log1p(frame.loc[rows, "y"].to_numpy()), dtype=torch.float32))
    frame.loc[3, "b"] = -1.0
    with pytest.raises(ParameterError, match=r"column 'b' has 1 negative"):
        bench(write(tmp_path, frame), log_transform=True).load(0)


def test_missing_columns_are_named_with_the_available_ones(csv):
    for kw, name in ((dict(environment="lab"), "lab"), (dict(target="z"), "z"), (dict(features=["a", "q"]), "q")):
        with pytest.raises(ParameterError, match=rf"column '{name}' is not in .*'site', 'note', 'a', 'b'"):
            bench(csv, **kw).load(0)
    with pytest.raises(ParameterError, match="column 'gone'"):
        bench(csv, drop=["gone"]).load(0)


def test_unknown_and_overlapping_environments(csv):
    with pytest.raises(ParameterError, match=r"train_envs value\(s\) \['7'\] do not occur .*\['1', '2', '3', '4'\]"):
        bench(csv, train_envs=[1, 7]).load(0)
    with pytest.raises(ParameterError, match=r"test_envs value\(s\) \['9'\]"):
        bench(csv, test_envs=[3, 9]).load(0)
    with pytest.raises(ParameterError, match=r"\['2'\] are in both train_envs and test_envs"):
        bench(csv, test_envs=[2, 3]).check()  # no file needed


def test_bad_feature_columns(csv, tmp_path):
    with pytest.raises(ParameterError, match="feature column 'note' is not numeric"):
        bench(csv, features=["a", "note"]).load(0)
    frame = make_frame()
    frame.loc[[0, 5, 100], "b"] = np.nan
    with pytest.raises(ParameterError, match=r"feature column 'b' has 3 NaN"):
        bench(write(tmp_path, frame)).load(0)


def test_infinite_values_and_empty_files_are_named(tmp_path):
    """``inf`` in a CSV passed as a value and an empty file gave a pandas traceback: both are named now."""
    frame = make_frame()
    frame.loc[[1, 2], "a"] = np.inf
    with pytest.raises(ParameterError, match=r"feature column 'a' has 2 infinite value\(s\)"):
        bench(write(tmp_path, frame)).load(0)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ParameterError, match=r"empty.csv is empty"):
        bench(str(empty)).load(0)
    empty.write_text("env,a,b,y\n")
    with pytest.raises(ParameterError, match="has a header but no rows"):
        bench(str(empty)).load(0)


def test_too_few_rows_in_a_split(csv, tmp_path):
    with pytest.raises(ParameterError, match=r"val split of environment site=1 has 1 row"):
        bench(csv, max_rows_per_env=4, val_fraction=0.2).load(0)
    frame = make_frame()
    frame = frame[(frame.site != 4) | (frame.index == frame.index[-1])]
    with pytest.raises(ParameterError, match=r"test split of environment site=4 has 1 row"):
        bench(write(tmp_path, frame)).load(0)


def test_check_validates_settings_without_the_file():
    ok = dict(environment="site", target="y", train_envs=[1])
    TabularBenchmark("/does/not/exist.csv", **ok).check()
    with pytest.raises(ParameterError, match="task must be one of"):
        TabularBenchmark("f.csv", task="ranking", **ok).check()
    for vf in (0, 1, 1.5, "0.2"):
        with pytest.raises(ParameterError, match="val_fraction"):
            TabularBenchmark("f.csv", val_fraction=vf, **ok).check()
    with pytest.raises(ParameterError, match="features include 'y'"):
        TabularBenchmark("f.csv", features=["a", "y"], **ok).check()
    with pytest.raises(ParameterError, match="features must be a list"):
        TabularBenchmark("f.csv", features="a", **ok).check()
    with pytest.raises(ParameterError, match="set path, or path_env"):
        TabularBenchmark(None, **ok).check()


def test_path_from_an_environment_variable(csv, monkeypatch):
    b = TabularBenchmark(None, path_env="MY_TABLE", environment="site", target="y", train_envs=[1, 2])
    monkeypatch.setenv("MY_TABLE", str(csv))
    assert b.load(0).input_shape == (3,) and b.path_ == csv.resolve()
    monkeypatch.setenv("MY_TABLE", str(csv.parent / "missing.csv"))
    with pytest.raises(ParameterError, match=r"\$MY_TABLE = .*missing\.csv.*path=None, path_env='MY_TABLE'"):
        b.load(0)
    monkeypatch.delenv("MY_TABLE")
    with pytest.raises(ParameterError, match=r"path=None is empty and path_env names the unset .*\$MY_TABLE"):
        b.load(0)


def test_relative_path_resolves_against_the_repository_root(csv, monkeypatch):
    monkeypatch.chdir(csv.parent)
    assert bench(Path("pyproject.toml")).resolve_path() == REPO / "pyproject.toml"
    assert bench("data.csv").resolve_path() == csv.resolve()  # relative to cwd first


def test_sachs_config_instantiates(monkeypatch):
    monkeypatch.delenv("CAUSALPHYS_SACHS", raising=False)
    b = hydra.utils.instantiate(OmegaConf.load(SACHS_YAML))
    assert isinstance(b, TabularBenchmark) and b.name == "sachs" and b.task == "regression"
    b.check()
    if not SACHS_CSV.is_file():  # the data are not in the repo: instantiation and check() are all we can test
        return
    data = b.load(0)
    assert list(data.train) == ["condition_id=1", "condition_id=2"]
    assert list(data.test) == [f"condition_id={k}" for k in range(3, 10)]
    assert data.input_shape == (10,) and data.n_outputs == 1
    assert sum(len(x) for x, _ in (*data.train.values(), *data.val.values())) == 853 + 902
    assert len(data.test["condition_id=3"][0]) == 911
