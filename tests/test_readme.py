"""The README's Python examples run, top to bottom, as a newcomer would paste them."""

import re
from pathlib import Path

import matplotlib.pyplot as plt

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md block {i}", "exec"), namespace)
    assert namespace["cf"]["scanner"].eq(0).all()
    assert abs(namespace["back"].do(y=1.0).sample(5_000, seed=0)["z"].mean().item() + 1.0) < 0.1
    plt.close("all")
