import numpy as np
import pytest

import causalphys as cp
from causalphys.discovery import PowerLaw


def test_free_exponent_is_recovered_with_its_standard_error():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 3.0, 500)
    y = 3.0 * x**1.7 + 0.2 * rng.normal(size=500)
    law = PowerLaw("y", ["x"]).fit({"x": x}, y)
    exponent, se = law.exponents()["x"]
    assert 0 < se < 0.02
    assert abs(exponent - 1.7) < 4 * se
    assert abs(law.params_[0] - 3.0) < 4 * law.stderr_[0]
    assert str(law.formula(2)) == "3.0*x**1.7"


def test_products_of_powers_and_negative_prefactors():
    rng = np.random.default_rng(1)
    x, z = rng.uniform(0.5, 2.0, 800), rng.uniform(1.0, 3.0, 800)
    y = -2.0 * np.sqrt(x) / z + 0.05 * rng.normal(size=800)
    law = PowerLaw("y", ["z", "x"]).fit({"x": x, "z": z}, y)
    (ax, sx), (az, sz) = law.exponents()["x"], law.exponents()["z"]
    assert abs(ax - 0.5) < 4 * sx and abs(az + 1.0) < 4 * sz
    assert law.params_[0] < 0
    assert law.variables == ("x", "z") and law.n_params == 3


def test_non_positive_variable_is_a_domain_error():
    x = np.linspace(-1, 1, 50)
    with pytest.raises(cp.DomainError, match="needs x > 0, but x takes values down to -1"):
        PowerLaw("y", ["x"]).fit({"x": x}, x**2)


def test_unidentified_parameters_give_nan_errors_with_the_reason_and_no_warning():
    """A parent constant over the rows (a per-environment refit when the environment sets it): scipy cannot
    estimate the covariance; the fit says so instead of warning."""
    import warnings

    dose = np.full(20, 1e4)
    snr = 2.0 + 0.1 * np.random.default_rng(0).normal(size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        law = PowerLaw("snr", ["dose"]).fit({"dose": dose}, snr)
    assert np.all(np.isnan(law.stderr_)) and "identify 1 of the 2" in law.stderr_issue_
    assert law.rank_ == 1 and law.predict({"dose": dose}).mean() == pytest.approx(snr.mean(), rel=1e-3)


def test_weighted_fit_minimises_the_weighted_sum():
    rng = np.random.default_rng(2)
    x = rng.uniform(1, 3, 200)
    sd = np.where(x > 2, 1.0, 0.05)
    y = 3.0 * x**1.5 + sd * rng.normal(size=200)
    plain = PowerLaw("y", ["x"]).fit({"x": x}, y)
    weighted = PowerLaw("y", ["x"]).fit({"x": x}, y, weights=1 / sd**2)
    assert weighted.stderr_[1] < plain.stderr_[1]
    assert weighted.rss_ == pytest.approx(np.sum((y - weighted.predict({"x": x})) ** 2 / sd**2))
    with pytest.raises(cp.ParameterError, match="weights"):
        PowerLaw("y", ["x"]).fit({"x": x}, y, weights=-np.ones(200))
