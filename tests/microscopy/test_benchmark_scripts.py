"""The microscopy benchmark scripts run end to end on a tiny batch and print the JSON the README quotes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_time_split_reports_every_setting_and_both_detector_branches():
    out = run("microscopy_time_split.py", "--n", "96", "--repeats", "1")
    settings = [(s["threads"], s["noise_drawn_ahead"]) for s in out["splits"]]
    assert settings == [(1, False), (2, False), (2, True)]
    for split in out["splits"]:
        parts = split["us_per_image"]
        assert parts["image_formation (clean)"] > 0 and parts["detector (image)"] > 0
        assert parts["total"] > parts["image_formation (clean)"] + parts["detector (image)"]
        if not split["noise_drawn_ahead"]:  # drawn in line, the noise is time outside every node
            assert parts["rest (noise drawn in line, bookkeeping)"] > 0
    branches = out["detector_branches_one_thread"]
    assert 0 < branches["fraction_of_pixels_exact"] < 1
    assert branches["us_per_image_exact_search"] > 0 and branches["us_per_image_cornish_fisher"] > 0


def test_throughput_reports_every_scanner_and_the_noise_floor():
    out = run("microscopy_throughput.py", "--n", "64", "--repeats", "1")
    cases = [row["case"] for row in out["rows"]]
    assert cases[0].startswith("train_a mix") and len(cases) == 5
    assert all(row["images_per_second"] > 0 for row in out["rows"])
    assert out["noise_floor"]["images_per_second"] > 0 and out["goal_images_per_second"] == 5000
