"""The benchmark protocol: what a run asks of a benchmark (DataRequest) and how a benchmark answers (requesting)."""

import pytest
import torch

from causalphys.data.benchmark import Benchmark, BenchmarkData, DataRequest, EnvironmentInfo
from causalphys.errors import ParameterError
from causalphys.microscopy.shifts import Routing
from tests.evaluation.tiny import severity, tiny_benchmark


class Mine(Benchmark):
    """A user's benchmark: two environments of noise, no SCM behind them."""

    name = "mine"

    def __init__(self, n: int = 8, scale: float = 1.0):
        self.n, self.scale = n, scale

    def load(self, seed, *, progress=False):
        g = torch.Generator().manual_seed(seed)
        x = self.scale * torch.randn(2 * self.n, 3, generator=g)
        y = (x[:, 0] > 0).long()
        return BenchmarkData(
            train={"a": (x[: self.n], y[: self.n])},
            val={"a": (x[: self.n], y[: self.n])},
            test={"b": (x[self.n :], y[self.n :])},
            info={"a": EnvironmentInfo("train"), "b": EnvironmentInfo("test")},
        )


def test_a_request_is_checked():
    with pytest.raises(ParameterError, match="needs must be one of"):
        DataRequest(needs="oracle")
    with pytest.raises(ParameterError, match="exactly when it needs views"):
        DataRequest(needs="views")
    with pytest.raises(ParameterError, match="exactly when it needs views"):
        DataRequest(views={"source": "prior"})


def test_a_user_benchmark_answers_a_plain_request_and_refuses_the_rest_by_name():
    mine = Mine(n=4)
    assert mine.requesting(DataRequest()) is mine
    with pytest.raises(ParameterError, match="benchmark 'mine' takes no shifts"):
        mine.requesting(DataRequest(shifts=(severity(),)))
    with pytest.raises(ParameterError, match="benchmark 'mine' makes no counterfactual pairs"):
        mine.requesting(DataRequest(needs="pairs"))
    with pytest.raises(ParameterError, match="benchmark 'mine' makes no labelled views"):
        mine.requesting(DataRequest(needs="views", views={"source": "prior"}))


def test_replaced_builds_a_new_benchmark_from_the_given_arguments():
    mine = Mine(4, scale=2.0)
    other = mine.replaced(scale=3.0)
    assert (other.n, other.scale) == (4, 3.0) and (mine.n, mine.scale) == (4, 2.0)


def test_the_scanner_shift_benchmark_adds_shifts_pairs_and_views_without_changing_itself():
    bench = tiny_benchmark(n_pairs=0)
    shifted = bench.requesting(DataRequest(shifts=(severity(), Routing())))
    assert bench.shifts == () and [s.name for s in shifted.shifts] == ["severity", "routing"]
    assert shifted.n_pairs == 0 and shifted.n_train == bench.n_train
    assert bench.requesting(DataRequest(needs="pairs")).n_pairs == bench.n_train // 2
    assert tiny_benchmark(n_pairs=5).requesting(DataRequest(needs="pairs")).n_pairs == 5
    assert tiny_benchmark(n_pairs=5).requesting(DataRequest()).n_pairs == 0  # only a pair learner uses them
    views = {"source": "scanners", "per_unit": 2, "units": 4}
    assert bench.requesting(DataRequest(needs="views", views=views)).views == views and bench.views is None


def test_map_metrics_name_a_function_of_a_dense_task():
    maps = torch.zeros(4, 1, 8, 8)
    kw = dict(train={"a": (maps, maps)}, val={"a": (maps, maps)}, test={}, info={"a": EnvironmentInfo("train")})
    with pytest.raises(ParameterError, match=r"map_metrics.function must be the dotted path.*'no.such'"):
        BenchmarkData(**kw, task="dense", map_metrics={"function": "no.such"})
    with pytest.raises(ParameterError, match=r"map_metrics must be a mapping .* for task 'regression'"):
        BenchmarkData(**kw, task="regression", map_metrics={"function": "math.sqrt"})
    ok = BenchmarkData(**kw, task="dense", map_metrics={"function": "causalphys.microscopy.columns.column_metrics"})
    assert ok.map_metrics["function"].endswith("column_metrics")
