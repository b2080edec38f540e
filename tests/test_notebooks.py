"""The tutorials in ``notebooks/`` run top to bottom, in small mode, as a reader would run them in Jupyter.

Each ``notebooks/*.py`` (jupytext percent format, the reviewable source) is converted to a notebook in a temporary
folder and executed with nbclient in a kernel named ``python3`` that this test defines itself: the kernel runs
this test's own interpreter (``sys.executable``, i.e. ``.venv/bin/python`` under ``make test``), whatever kernels
the machine has registered. The working directory is ``notebooks/``; ``CAUSALPHYS_NOTEBOOK_SMALL=1`` switches
every tutorial to its small mode; figures render through matplotlib's inline backend (Agg, no display), and each
tutorial must show some. A cell that raises fails the test with the cell's traceback; the executed notebook is
kept in the test's tmp folder (``pytest --basetemp=DIR`` to keep it somewhere known).
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

try:  # not skipped when missing: a tutorial that cannot run must fail the test run
    import ipykernel  # noqa: F401  (the kernel this test starts runs ipykernel in this interpreter)
    import jupytext
    import nbclient
    import nbformat
except ImportError as err:
    raise ImportError(
        f"{err}: the notebook tests need the dev extras (jupytext, nbclient, nbformat, ipykernel); "
        "run `pip install -e '.[dev]'` (make test does)"
    ) from err

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9]*.py"))
KERNEL = "python3"
CELL_TIMEOUT = 600  # seconds; a hung cell fails instead of blocking CI


def test_the_tutorials_exist():
    numbers = [p.name[:2] for p in SOURCES]
    assert {"01", "02", "03", "04"} <= set(numbers) and len(set(numbers)) == len(numbers), [p.name for p in SOURCES]


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_imports_only_the_public_api(source):
    """DESIGN.md, house rule 10: notebooks import only from ``causalphys/__init__.py``."""
    tree = ast.parse(source.read_text(), filename=str(source))
    private = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            private += [a.name for a in node.names if a.name.startswith("causalphys.")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("causalphys"):
            private.append(f"from {node.module} import ...")
    assert not private, f"{source.name} imports {private}; use `import causalphys as cp` and the public API"


def _kernel_dir(tmp_path: Path) -> Path:
    """A Jupyter data folder whose kernel ``python3`` is this interpreter (JUPYTER_PATH comes first in the search)."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "causalphys", "language": "python"}))
    return tmp_path / "jupyter"


def _execute(source: Path, tmp_path: Path, monkeypatch) -> object:
    """Run ``source`` (jupytext percent format) top to bottom in a fresh kernel; return the executed notebook."""
    monkeypatch.setenv("JUPYTER_PATH", str(_kernel_dir(tmp_path)))
    # Isolated from the user's Jupyter and IPython set-up (startup scripts, config, runtime files).
    for variable, folder in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
    ):
        monkeypatch.setenv(variable, str(tmp_path / "jupyter" / folder))
    monkeypatch.setenv("CAUSALPHYS_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # renders PNGs with Agg
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # silence debugpy's warning about frozen modules
    # One torch thread: the small-mode networks gain nothing from more, and on a machine whose cores are busy two
    # spinning threads made a tutorial 8x slower.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "causalphys", "language": "python"}
    # First, a check that the kernel runs in this test's environment (not some other registered python3).
    check = f"import sys\nassert sys.prefix == {sys.prefix!r}, f'kernel runs {{sys.executable}}, not {sys.executable}'"
    nb.cells.insert(0, nbformat.v4.new_code_cell(check))

    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    try:
        client.execute()
    finally:
        nbformat.write(nb, tmp_path / f"{source.stem}.ipynb")
    return nb


PROTEINS = ["Raf", "Mek", "PLCg", "PIP2", "PIP3", "Erk", "Akt", "PKA", "PKC", "P38", "JNK"]
EDGES = [  # a small signalling network in the spirit of Sachs et al. (2005): cause -> effect
    ("Raf", "Mek"), ("Mek", "Erk"), ("PLCg", "PIP2"), ("PIP3", "PIP2"), ("Erk", "Akt"), ("PKA", "Akt"),
    ("PKA", "Raf"), ("PKC", "Raf"), ("PKC", "PKA"), ("PKC", "P38"), ("PKC", "JNK"), ("PKA", "P38"),
]  # fmt: skip
# condition -> (stimulus, inhibited or activated protein, shift of its log level)
CONDITIONS = {1: ("cd3cd28", None, 0.0), 2: ("cd3cd28icam2", None, 0.2), 3: ("akt inhibitor", "Akt", -1.0),
              4: ("g0076", "PKC", -1.0), 5: ("psitect", "PIP2", -1.0), 6: ("u0126", "Mek", -1.5),
              7: ("ly", "PIP3", -1.0), 8: ("pma", "PKC", 1.0), 9: ("b2camp", "PKA", 1.0)}  # fmt: skip


def _stand_in_sachs(folder: Path, rows_per_condition: int = 150) -> Path:
    """A synthetic stand-in for the Sachs data with the real file's columns and its three reference-graph files:
    log levels from a linear-Gaussian SCM on :data:`EDGES`, one intervention per condition. Tests make their own
    data; the tutorial reads the real file outside the test (``$CAUSALPHYS_SACHS`` or ``../shared/data/sachs/``)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    weights = {edge: rng.uniform(0.4, 0.9) for edge in EDGES}
    frames = []
    for condition, (name, target, shift) in CONDITIONS.items():
        log_level = {}
        for protein in ("PKC", "PKA", "Raf", "Mek", "Erk", "PLCg", "PIP3", "PIP2", "Akt", "P38", "JNK"):  # causal order
            value = 3.0 + 0.3 * rng.standard_normal(rows_per_condition)
            value += sum(w * (log_level[c] - 3.0) for (c, e), w in weights.items() if e == protein)
            log_level[protein] = value + (shift if protein == target else 0.0)
        frame = pd.DataFrame({p: np.round(np.exp(log_level[p]), 2) for p in PROTEINS})
        frame.insert(0, "in_main_9", True)
        frame.insert(0, "perturbation_type", "observational" if target is None else "interventional")
        frame.insert(0, "target", target or "none")
        frame.insert(0, "perturbation", name)
        frame.insert(0, "stimulus", "CD3+CD28")
        frame.insert(0, "condition", name)
        frame.insert(0, "condition_id", condition)
        frames.append(frame)
    folder.mkdir(parents=True)
    path = folder / "sachs_14conditions.csv"
    pd.concat(frames).to_csv(path, index=False)
    for graph in ("graph_bnlearn_sachs2005_17.csv", "graph_cdt_consensus_18.csv", "graph_jci_mooij_19.csv"):
        pd.DataFrame(EDGES, columns=["cause", "effect"]).to_csv(folder / graph, index=False)
    return path


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_runs(source, tmp_path, monkeypatch):
    monkeypatch.setenv("CAUSALPHYS_SACHS", str(_stand_in_sachs(tmp_path / "sachs")))
    nb = _execute(source, tmp_path, monkeypatch)
    figures = sum(
        "image/png" in out.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert figures >= 2, f"{source.name} rendered {figures} figure(s); a tutorial shows its results as pictures"


def test_sachs_tutorial_fails_clearly_without_the_data(tmp_path, monkeypatch):
    """Tutorial 4 reads real data from a path; without the file it stops and says how to point to it."""
    monkeypatch.setenv("CAUSALPHYS_SACHS", str(tmp_path / "nowhere" / "sachs.csv"))
    (source,) = [p for p in SOURCES if p.name.startswith("04_")]
    with pytest.raises(nbclient.exceptions.CellExecutionError) as failure:
        _execute(source, tmp_path, monkeypatch)
    message = str(failure.value)
    assert "FileNotFoundError" in message and "CAUSALPHYS_SACHS" in message and "nowhere" in message
