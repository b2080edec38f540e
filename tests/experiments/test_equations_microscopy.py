"""The microscopy laws of issue 23 (experiments/equations/microscopy.py) at toy size: the learner's first-ranked
equation (noise="free": the instrument sets the noise level) has the law's structure, with the shot-noise exponent,
the column-contrast exponent and the drift law near the simulator's values (the real run and its table:
experiments/equations/microscopy/README.md)."""

import numpy as np
import pytest

from .scripts import load


@pytest.fixture(scope="module")
def study():
    return load("experiments/equations/microscopy.py")


def test_shot_noise_exponent_is_one_half(study):
    data = study.shot_noise_data(n=6, doses=np.logspace(3.5, 5, 4), shape=48, seed=1)
    fit = study.fit_shot_noise(data, regime_min=3e3)
    pick = study.first_pick(fit["learner"], {"dose": 0.5}, 0.05)
    assert pick["met"] and pick["candidate"].invariant, fit["learner"].table(3)
    alpha, se = fit["direct"].exponents()["dose"]  # the cross-check
    assert alpha == pytest.approx(0.5, abs=0.05) and 0 < se < 0.05
    assert fit["log_test"].accepted  # log snr = c0 + α log dose is the same law at every dose


def test_column_contrast_exponent_is_the_simulators(study):
    data = study.column_data(exponents=(1.5,), instruments=((0.35, 1e5), (0.6, 3e4)), n=1, shape=128, seed=2)
    assert set(data["Z"]) == set(study.LADDER_Z)
    res = study.fit_columns_law(data)[1.5]
    pick = study.first_pick(res["learner"], {"Z": 1.5}, 0.05)
    assert pick["met"] and pick["candidate"].equation.kind == "power_law", res["learner"].table(3)
    assert pick["candidate"].invariant and pick["powers"]["Z"][1] < 0.02
    n, se = res["rel"].exponents()["Z"]
    assert n == pytest.approx(1.5, abs=0.05) and se < 0.02
    assert res["rel_test"].p_coefficients > 0.01  # one exponent and prefactor for both probes
    for law in res["per_env"].values():
        assert law.exponents()["Z"][0] == pytest.approx(1.5, abs=0.06)


def test_drift_displacement_is_speed_times_line_time(study):
    # the study's four dwell times (with two, line_time = 80 px · dwell + flyback is nearly a function of the
    # environment and the learner took dwell_time^0.95 as well as line_time)
    data = study.drift_data(dwells=(4e-6, 8e-6, 16e-6, 32e-6), n=6, shape=64, seed=3)
    fit = study.fit_drift(data)
    pick = study.first_pick(fit["learner"], {"drift_speed": 1.0, "line_time": 1.0}, 0.05)
    assert pick["met"] and pick["candidate"].invariant, fit["learner"].table(3)
    c, se = fit["law"].coefficients()["drift_speed*line_time"]
    assert c == pytest.approx(1.0, abs=0.03) and se < 0.02
