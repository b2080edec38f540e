"""The did-you-mean for mistyped command-line keys (issue 19, smaller items)."""

import sys

import pytest

from causalphys.cli.keys import unknown_keys
from causalphys.run import CONF_DIR, main


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["trainr=irm"], "unknown key 'trainr': the config has no 'trainr'; did you mean 'trainer'?"),
        (["benchmark.n_trian=100"], "benchmark has no 'n_trian'; did you mean 'benchmark.n_train'?"),
        # the trainer chosen on the same line is the one whose keys are offered
        (["trainer=irm", "trainer.penalty_wieght=3"], "did you mean 'trainer.penalty_weight'?"),
        (["-m", "trainer=erm,irm", "seed=0,1", "shift=severity", "shift.levls=[0,1]"], "'shift.levels'"),
        (["zzz=1"], "the config has no 'zzz' (its keys: ["),  # nothing close: the keys are listed
    ],
)
def test_a_mistyped_key_is_named_with_the_closest_keys(argv, expected):
    (message,) = unknown_keys(argv, CONF_DIR)
    assert expected in message


@pytest.mark.parametrize(
    "argv",
    [
        ["trainer=irm", "trainer.penalty_weight=3", "seed=0"],
        ["-m", "trainer=erm,irm,vrex", "seed=0,1", "shift=severity", "shift.levels=[0,1]", "hydra.launcher.n_jobs=1"],
        ["+experiment=demo", "steps=5", "active/strategy=random", "+new_key=1", "~save_model"],
        ["benchmark=srtio3", "benchmark.manifest=x.csv"],
        ["trainer=nonexistent", "trainer.lr=1"],  # a bad group choice is left to Hydra's own message
    ],
)
def test_valid_keys_and_what_it_cannot_judge_pass(argv):
    assert unknown_keys(argv, CONF_DIR) == []


def test_the_command_stops_before_hydra_with_the_message(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["causalphys", "benchmark.n_trian=100"])
    with pytest.raises(SystemExit, match="did you mean 'benchmark.n_train'"):
        main()


def test_a_required_key_without_a_value_is_a_known_key():
    """``model: ???`` in conf/evaluate.yaml: a key whose value is missing is still a key (it was called unknown)."""
    assert unknown_keys(["model=net.ts", "seed=1"], CONF_DIR, "evaluate") == []
    (message,) = unknown_keys(["model=net.ts", "seeed=1"], CONF_DIR, "evaluate")
    assert "did you mean 'seed'?" in message


def test_the_scanner_group_shipped_in_the_package_is_a_group():
    """``scanner`` lives in causalphys/presets/ (on Hydra's search path), not in conf/: still a group whose keys are
    offered."""
    assert unknown_keys(["+scanner=low_dose", "scanner.name=x"], CONF_DIR) == []
    (message,) = unknown_keys(["+scanner=low_dose", "scanner.nmae=x"], CONF_DIR)
    assert "did you mean 'scanner.name'?" in message
