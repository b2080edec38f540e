"""Presets shipped inside the package, as data: one folder per Hydra config group (``scanner/``: the named
scanners, :func:`causalphys.microscopy.scanners.load_scanners`).

They travel with an installed wheel (package data in ``pyproject.toml``), so ``cp.load_scanners()`` works without
the repository's ``conf/``; Hydra finds the same files through ``hydra.searchpath: [pkg://causalphys.presets]`` in
``conf/config.yaml`` and ``conf/evaluate.yaml`` (``- /scanner@scanners.low_dose: low_dose`` in a benchmark's
defaults). One copy of each preset: edit it here.
"""
