"""Adds ``pkg://causalphys.presets`` to every Hydra search path: the ``scanner`` group lives in the package
(``causalphys/presets/scanner/*.yaml``, which ``cp.load_scanners()`` reads without Hydra), not in ``conf/``.

A plugin rather than ``hydra.searchpath`` in ``conf/config.yaml``: the group is then found by every root config
(``config``, ``evaluate``), by tests that compose with ``initialize_config_dir``, by ``causalphys --help``'s list of
groups and by a command line that sets ``hydra.searchpath`` itself. It is appended: ``conf/`` still comes first.
"""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class CausalphysPresets(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        search_path.append(provider="causalphys-presets", path="pkg://causalphys.presets")
