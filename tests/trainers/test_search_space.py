import math

import pytest

from causalphys.errors import ParameterError
from causalphys.trainers.search_space import check_search_space, sample_search_space

SPACE = {
    "lr": {"distribution": "log10_uniform", "low": -4.5, "high": -3.5},
    "batch_size": {"distribution": "log2_uniform_int", "low": 3, "high": 9},
    "anneal": {"distribution": "log10_uniform_int", "low": 0, "high": 4},
    "momentum": {"distribution": "uniform", "low": 0.0, "high": 0.9},
    "width": {"distribution": "choice", "values": [64, 128]},
}


def test_draws_lie_in_their_ranges_and_have_the_right_types():
    for seed in range(20):
        d = sample_search_space(SPACE, seed)
        assert -4.5 <= math.log10(d["lr"]) <= -3.5
        assert isinstance(d["batch_size"], int) and 8 <= d["batch_size"] <= 512
        assert isinstance(d["anneal"], int) and 1 <= d["anneal"] <= 10_000
        assert 0.0 <= d["momentum"] <= 0.9 and d["width"] in (64, 128)
    draws = {sample_search_space(SPACE, s)["width"] for s in range(20)}
    assert draws == {64, 128}


def test_draws_are_seeded_per_name():
    assert sample_search_space(SPACE, 3) == sample_search_space(SPACE, 3) != sample_search_space(SPACE, 4)
    alone = sample_search_space({"lr": SPACE["lr"]}, 3)
    assert alone["lr"] == sample_search_space(dict(reversed(SPACE.items())), 3)["lr"]


@pytest.mark.parametrize(
    "space, message",
    [
        ({"lr": {"distribution": "loguniform", "low": 0, "high": 1}}, r"search_space.lr: unknown distribution"),
        ({"lr": {"distribution": "uniform", "low": 1, "high": 0}}, r"search_space.lr: needs numbers low < high"),
        ({"lr": {"distribution": "choice", "values": []}}, r"search_space.lr: a choice needs a non-empty list"),
        ({"lr": {"distribution": "uniform", "low": 0, "high": 1, "step": 2}}, r"unknown key\(s\) \['step'\]"),
        ({"rate": {"distribution": "uniform", "low": 0, "high": 1}}, r"'rate' is not a constructor argument"),
    ],
)
def test_bad_entries_are_named(space, message):
    with pytest.raises(ParameterError, match=message):
        check_search_space(space, params=["lr"])
