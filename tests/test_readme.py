"""The README's Python examples run, top to bottom, as a newcomer would paste them."""

import re
from pathlib import Path

import matplotlib.pyplot as plt

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run_as_written():
    """Each ``##`` section's Python blocks run top to bottom in a fresh namespace, as a newcomer pastes them into a
    new session: a section whose block uses ``cp`` or ``torch`` without importing it fails here."""
    sections = re.split(r"^## ", README.read_text(), flags=re.M)
    namespaces = {}
    for section in sections:
        title = section.splitlines()[0]
        blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
        namespace: dict = {}
        for i, block in enumerate(blocks):
            exec(compile(block, f"README.md, section {title!r}, block {i}", "exec"), namespace)
        namespaces[title] = namespace
    assert sum(len(re.findall(r"```python", s)) for s in sections) >= 8
    tour = namespaces["A tour of the API"]
    assert tour["cf"]["scanner"].eq(0).all()
    assert abs(tour["back"].do(y=1.0).sample(5_000, seed=0)["z"].mean().item() + 1.0) < 0.1
    own = namespaces["Your own instrument, your own images, your own model"]
    assert own["r2"]["tilt=0"] > own["r2"]["tilt=1"] + 0.3  # ERM leans on the tilt
    plt.close("all")
