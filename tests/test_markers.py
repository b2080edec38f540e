"""Every pytest marker that pyproject.toml registers (and the Makefile selects by) marks at least one test: a marker
that marks nothing makes `-m "not NAME"` a filter that filters nothing (issue 19: `slow` did exactly that)."""

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_registered_marker_marks_some_test():
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    names = [m.split(":")[0].strip() for m in markers]
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != "test_markers.py")
    unused = [n for n in names if not re.search(rf"pytest\.mark\.{n}\b", sources)]
    assert not unused, f"registered markers that mark no test: {unused}"
    # and the Makefile selects only by registered markers
    expressions = re.findall(r"pytest -m (\"[^\"]+\"|\w+)", (ROOT / "Makefile").read_text())
    used = {w for e in expressions for w in re.findall(r"\w+", e)} - {"not", "and", "or"}
    assert used and used <= set(names), f"the Makefile selects by unregistered markers {used - set(names)}"
