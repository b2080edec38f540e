"""Reading the project's configuration files (``conf/``) outside a Hydra run: scanners and other presets.

Hydra runs compose ``conf/`` themselves; this module serves code that needs the same data without a Hydra
application — tests, benchmarks, notebooks (``cp.load_scanners()``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from causalphys.errors import CausalPhysError

CONF_DIR = Path(os.environ.get("CAUSALPHYS_CONF", Path(__file__).resolve().parents[2] / "conf"))
"""The ``conf/`` folder: ``$CAUSALPHYS_CONF`` if set, else the repository's own."""

DEFAULT_SCANNERS = ("corrected_200kv", "low_dose", "uncorrected_200kv", "drifty_older")


def load_group(group: str, name: str):
    """Instantiate ``conf/<group>/<name>.yaml`` (its ``_target_``)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    path = CONF_DIR / group / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        raise CausalPhysError(f"no config {group}/{name}.yaml in {CONF_DIR}; known {group} configs: {known}")
    return instantiate(OmegaConf.load(path), _convert_="all")


def load_scanners(names: Sequence[str] = DEFAULT_SCANNERS) -> list:
    """The named scanner presets from ``conf/scanner/``, in the order given (their index is the ``scanner`` node)."""
    return [load_group("scanner", name) for name in names]
