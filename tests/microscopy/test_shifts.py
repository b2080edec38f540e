"""The scanner shifts (and NodeValues) on the scanner-shift benchmark: every environment is an intervention on its
SCM, named; bad shifts fail before sampling."""

import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.evaluation.shifts import NodeValues
from causalphys.microscopy.scanners import PARAMETERS, load_scanners
from causalphys.microscopy.shifts import HeldOutScanners, Routing, Severity, interpolate
from tests.evaluation.tiny import TOWARD, severity, tiny_benchmark


def test_interpolate_ends_are_the_presets_and_past_one_goes_further():
    a, b = load_scanners(["corrected_200kv", "uncorrected_200kv"])
    for p in PARAMETERS:
        assert interpolate(a, b, 0.0).ranges[p] == pytest.approx(tuple(map(float, a.ranges[p])))
        assert interpolate(a, b, 1.0).ranges[p] == pytest.approx(tuple(map(float, b.ranges[p])))
    wider = interpolate(a, b, 1.5).ranges["probe_sigma"]
    assert wider[0] > float(b.ranges["probe_sigma"][0]) > float(a.ranges["probe_sigma"][0])


def test_dose_interpolates_geometrically_and_stays_positive():
    low, drifty = load_scanners(["low_dose", "drifty_older"])
    half = interpolate(low, drifty, 0.5).ranges["dose"][0]
    expected = (float(low.ranges["dose"][0]) * float(drifty.ranges["dose"][0])) ** 0.5
    assert half == pytest.approx(expected)
    far = interpolate(low, drifty, 10.0)
    assert all(far.ranges[p][0] > 0 for p in ("dose", "probe_sigma", "gain"))


def test_severity_levels_share_their_units_and_move_the_instrument():
    data = tiny_benchmark([severity((0.0, 1.5))]).load(0)
    (x0, y0), (x1, y1) = data.test["severity=0"], data.test["severity=1.5"]
    assert torch.equal(y0, y1)  # common random numbers: the same samples at every level
    assert not torch.allclose(x0, x1)
    assert data.info["severity=1.5"].shift == "severity" and data.info["severity=1.5"].level == 1.5
    assert "corrected_200kv->uncorrected_200kv@1.5" in data.info["severity=1.5"].description


def test_routing_levels_set_the_scanner_label_association():
    bench = tiny_benchmark([Routing(levels=(1.0, 0.0))], n_test=200)
    train_envs, test_envs, _ = bench.environments()
    for env, expected in (("routing=1", 1.0), ("routing=0", 0.0)):
        batch = test_envs[env].sample(200, seed=1, nodes=["scanner", "label"])
        agree = (batch["scanner"] == batch["label"]).float().mean().item()  # scanner 0 for label 0, 1 for label 1
        assert agree == expected


def test_heldout_scanners_and_node_values_are_interventions():
    bench = tiny_benchmark([HeldOutScanners(["uncorrected_200kv", "drifty_older"]), NodeValues("dose", [300.0])])
    _, test_envs, info = bench.environments()
    scanners = test_envs["heldout_scanners"].sample(64, seed=0, nodes=["scanner"])["scanner"]
    assert set(scanners.unique().tolist()) == {2.0, 3.0}
    assert (test_envs["dose=300"].sample(8, seed=0, nodes=["dose"])["dose"] == 300.0).all()
    assert info["dose=300"].description == "do(lab := 2), do(dose := 300)"


@pytest.mark.parametrize(
    "shift, message",
    [
        (lambda: NodeValues("dosage", [1.0]), "node 'dosage'"),
        (lambda: Severity({"corrected_200kv": "uncorrected_200kv"}), "training scanner.*low_dose"),
        (lambda: Severity(TOWARD, levels=[-1.0]), "levels must be >= 0"),
        (lambda: Severity({**TOWARD, "low_dose": "no_such_scanner"}), "unknown scanner 'no_such_scanner'"),
        (lambda: Routing(levels=[1.5]), r"probability in \[0, 1\]"),
        (lambda: HeldOutScanners(["uncorrected_200kv"]), "two scanner presets"),
        (lambda: HeldOutScanners(["uncorrected_200kv", "drifty_older"], base_lab="lab_x"), "unknown lab 'lab_x'"),
    ],
)
def test_bad_shifts_name_the_problem(shift, message):
    with pytest.raises(ParameterError, match=message):
        tiny_benchmark([shift()]).check()
