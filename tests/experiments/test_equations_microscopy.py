"""The microscopy laws of issue 23 (experiments/equations/microscopy.py) at toy size: the shot-noise exponent, the
column-contrast exponent and the drift law come out of cp.discovery near the simulator's values (the real run and its
table: experiments/equations/microscopy/README.md)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("equations_microscopy", ROOT / "experiments/equations/microscopy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore:Covariance of the parameters")
def test_shot_noise_exponent_is_one_half(study):
    data = study.shot_noise_data(n=6, doses=np.logspace(3.5, 5, 4), shape=48, seed=1)
    fit = study.fit_shot_noise(data, regime_min=3e3)
    law = study._candidate(fit["learner"], "power_law").equation
    alpha, se = law.exponents()["dose"]
    assert alpha == pytest.approx(0.5, abs=0.05) and 0 < se < 0.05
    assert fit["log_test"].accepted  # log snr = c0 + α log dose is the same law at every dose


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore:Covariance of the parameters")
def test_column_contrast_exponent_is_the_simulators(study):
    data = study.column_data(exponents=(1.5,), instruments=((0.35, 1e5), (0.6, 1e5)), n=1, shape=128, seed=2)
    assert set(data["Z"]) == set(study.LADDER_Z)
    res = study.fit_columns_law(data)[1.5]
    n, se = res["rel"].exponents()["Z"]
    assert n == pytest.approx(1.5, abs=0.05) and se < 0.02
    assert res["rel_test"].p_coefficients > 0.01  # one exponent and prefactor for both probes
    for law in res["per_env"].values():
        assert law.exponents()["Z"][0] == pytest.approx(1.5, abs=0.06)


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore:Covariance of the parameters")
def test_drift_displacement_is_speed_times_line_time(study):
    data = study.drift_data(dwells=(8e-6, 32e-6), n=4, shape=64, seed=3)
    fit = study.fit_drift(data)
    c, se = fit["law"].coefficients()["drift_speed*line_time"]
    assert c == pytest.approx(1.0, abs=0.03) and se < 0.02
