"""Fixtures of the data tests: the real STEM recording that the image readers are checked against."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STEM_DEFAULT = REPO.parent / "shared" / "data" / "stem" / "srtio3_adf.hdf5"


@pytest.fixture
def stem_file() -> Path:
    """A recorded SrTiO3 ADF-STEM image (HyperSpy HDF5, 400 x 380 pixels of 0.009326 nm; its axes store no unit):
    ``$CAUSALPHYS_STEM``, else ``<repo>/../shared/data/stem/srtio3_adf.hdf5``. It is not in the repository; a missing
    file fails the test (never skips it) with the way to provide it."""
    path = Path(os.environ.get("CAUSALPHYS_STEM") or STEM_DEFAULT)
    if not path.is_file():
        pytest.fail(
            f"the real STEM test file is missing: {path}. Set CAUSALPHYS_STEM to a copy of srtio3_adf.hdf5 (the "
            f"SrTiO3 ADF-STEM image of the project's shared data) or place it at {STEM_DEFAULT}"
        )
    return path
