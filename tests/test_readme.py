"""The README's Python examples run, top to bottom, as a newcomer would paste them."""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


REAL_DATA = "../shared/data"
"""Blocks that read the project's shared data run in :func:`test_readme_real_data_blocks_run` (make test-real)."""


def _run_sections(with_real_data: bool) -> dict[str, dict]:
    """Each ``##`` section's Python blocks, top to bottom, in a fresh namespace per section (as a newcomer pastes
    them into a new session); the blocks that read ``../shared/data`` only ``with_real_data``."""
    namespaces = {}
    for section in re.split(r"^## ", README.read_text(), flags=re.M):
        title = section.splitlines()[0]
        namespace: dict = {}
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", section, flags=re.S)):
            if REAL_DATA in block and not with_real_data:
                continue
            exec(compile(block, f"README.md, section {title!r}, block {i}", "exec"), namespace)
        namespaces[title] = namespace
    plt.close("all")
    return namespaces


def test_readme_python_blocks_run_as_written():
    """A section whose block uses ``cp`` or ``torch`` without importing it fails here."""
    assert len(re.findall(r"```python", README.read_text())) >= 8
    namespaces = _run_sections(with_real_data=False)
    tour = namespaces["A tour of the API"]
    assert tour["cf"]["scanner"].eq(0).all()
    assert abs(tour["back"].do(y=1.0).sample(5_000, seed=0)["z"].mean().item() + 1.0) < 0.1
    own = namespaces["Your own instrument, your own images, your own model"]
    assert own["r2"]["tilt=0"] > own["r2"]["tilt=1"] + 0.3  # ERM leans on the tilt


@pytest.mark.real_data
def test_readme_real_data_blocks_run():
    """The README's re-imaging of the recorded SrTiO3 image runs as written (from the repository root)."""
    assert REAL_DATA in README.read_text()
    own = _run_sections(with_real_data=True)["Your own instrument, your own images, your own model"]
    assert tuple(own["worse"].shape) == (2, 400, 380)
