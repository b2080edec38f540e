"""Loading an experiment script (``experiments/**/*.py``, not a package) as a module, for the tests that run it."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load(path: str):
    """The script at ``path`` (relative to the repository root), imported as a module named after its file."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
