"""The scanner presets shipped in the package (causalphys/presets/scanner/): read without Hydra, the repository's
conf/ or the CLI layer, and the same presets Hydra composes as the ``scanner`` group."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

import causalphys
from causalphys.errors import ParameterError
from causalphys.microscopy.scanners import DEFAULT_SCANNERS, ScannerPreset, check_settings, load_scanners
from causalphys.run import CONF_DIR

PACKAGE = Path(causalphys.__file__).parent


def test_load_scanners_needs_neither_conf_nor_hydra_nor_the_cli(tmp_path):
    """A copy of the package alone (no conf/ beside it, as from a wheel) loads the presets, and importing causalphys
    and loading them imports no hydra and nothing of causalphys.cli."""
    shutil.copytree(PACKAGE, tmp_path / "causalphys", ignore=shutil.ignore_patterns("__pycache__"))
    script = (
        "import sys, causalphys as cp; "
        "names = [p.name for p in cp.load_scanners()]; "
        "assert cp.__file__.startswith(sys.argv[1]), cp.__file__; "
        "assert 'hydra' not in sys.modules, 'hydra imported'; "
        "assert not [m for m in sys.modules if m.startswith('causalphys.cli')], 'the CLI imported'; "
        "print(','.join(names))"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ",".join(DEFAULT_SCANNERS)
    assert not (tmp_path / "conf").exists()


def test_one_copy_of_each_preset_is_what_hydra_composes():
    assert not (CONF_DIR / "scanner").exists()  # the presets live only in the package
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        composed = instantiate(compose(config_name="config").benchmark.scanners, _convert_="all")
    assert list(composed) == list(DEFAULT_SCANNERS)
    assert list(composed.values()) == load_scanners()
    assert all(isinstance(p, ScannerPreset) for p in composed.values())


def test_instrument_settings_are_checked_against_their_physical_domain():
    check_settings({"dose": 10.0, "probe_tail_fraction": 0.0, "drift_speed": -3.0, "lab": 1.0, "scanner": "any"})
    for spec, message in (
        ({"dose": 0.0}, r"dose must be > 0, got 0.0"),
        ({"gain": -1.0}, r"gain must be > 0, got -1.0"),
        ({"probe_tail_fraction": 1.2}, r"probe_tail_fraction must lie in \[0, 1\], got 1.2"),
    ):
        with pytest.raises(ParameterError, match=message):
            check_settings(spec)
    ranges = {**load_scanners(["corrected_200kv"])[0].ranges, "pixel_size": (0.0, 0.3)}
    with pytest.raises(ParameterError, match=r"scanner 'bad': pixel_size must be > 0, got 0.0 \(range \[0.0, 0.3\]\)"):
        ScannerPreset("bad", ranges)
