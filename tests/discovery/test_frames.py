import numpy as np
import pytest

import causalphys as cp
from causalphys.discovery import MechanismLearner


def test_non_finite_values_are_refused_up_front_naming_the_column_and_rows():
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 2, 60)
    data = {"x": x, "y": 2 * x, "env": np.repeat([0, 1], 30)}
    data["y"][[3, 7]] = [np.inf, np.nan]
    with pytest.raises(cp.ParameterError, match=r"'y' in 2 of 60 rows.*drop those rows"):
        MechanismLearner().fit(data, "y", ["x"], environment="env")
    data["y"][[3, 7]] = 1.0
    data["x"][0] = -np.inf
    with pytest.raises(cp.ParameterError, match=r"'x' in 1 of 60 rows"):
        MechanismLearner().fit(data, "y", ["x"], environment="env")
