"""The column map: where the columns appear in the image, per kind, from the same specimen and frame as the image."""

import math

import numpy as np
import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.microscopy.analysis import column_maxima, fit_columns
from causalphys.microscopy.column_lab import column_lab, scanner_environments
from causalphys.microscopy.columns import match_columns
from causalphys.microscopy.imaging import ColumnMap, ImageFormation
from causalphys.microscopy.phases import SRTIO3_110
from causalphys.microscopy.scanners import ScannerPreset
from tests.microscopy.physics import BASE

CPU = torch.device("cpu")


def parameters(n=1, **overrides):
    values = {**BASE, "phase": 0.0, "probe_tail_fraction": 0.0, "probe_sigma": 0.35, **overrides}
    return {k: torch.full((n,), float(v), dtype=torch.float64) for k, v in values.items()}


def image_and_map(shape=(96, 96), seed=0, **overrides):
    formation = ImageFormation(shape=shape, phases=(SRTIO3_110,), placement="placement", max_cells=32)
    column_map = ColumnMap(("SrO", "Ti"), "placement", width=0.3, shape=shape, phases=(SRTIO3_110,), max_cells=32)
    p = parameters(**overrides)
    p["placement"] = formation.placement_root().sample_noise(1, torch.Generator().manual_seed(seed), CPU, torch.float64)
    image = formation.evaluate(p, None, n=1, device=CPU, dtype=torch.float64)[0]
    maps = column_map.evaluate(p, None, n=1, device=CPU, dtype=torch.float64)[0]
    return image, maps, formation


def peaks(channel, pixel_size):
    fits = fit_columns(channel, pixel_size, column_maxima(channel, pixel_size, radius=0.6, min_height=0.3), radius=0.6)
    return fits.position


@pytest.mark.parametrize(
    "distortion",
    [{}, {"drift_speed": 4.0, "drift_angle": 0.7, "scale_error_y": 0.03, "scan_shear": 0.02, "rotation": 0.4}],
)
def test_the_map_puts_each_kind_where_the_image_shows_it(distortion):
    pixel_size = 0.15
    image, maps, _ = image_and_map(pixel_size=pixel_size, **distortion)
    assert maps.shape == (2, 96, 96)
    # the image's bright columns (SrO) and dim ones (Ti), found by Gaussian fits, against the map's two channels
    bright = peaks(maps[0], pixel_size)
    dim = peaks(maps[1], pixel_size)
    found = peaks(image, pixel_size)
    heavy = match_columns(found, bright, radius=0.5 / pixel_size, shape=(96, 96), margin=8)
    light = match_columns(found, dim, radius=0.5 / pixel_size, shape=(96, 96), margin=8)
    assert heavy.recall == 1.0 and light.recall == 1.0 and heavy.n_reference > 10 and light.n_reference > 10
    # a heavy column's centre in the image is its centre in the map, to a hundredth of an Å (the neighbours' tails
    # pull an image fit a little; the map has none)
    assert heavy.median_error * pixel_size < 0.01 and light.median_error * pixel_size < 0.02
    # heights: 1 at every column (bilinear deposition widens a 2-px Gaussian by at most 1/6 px²)
    heights = maps[0][torch.as_tensor(bright[:, 1].round()).long(), torch.as_tensor(bright[:, 0].round()).long()]
    assert float(heights.max()) == pytest.approx(1.0, abs=0.1)


def test_the_image_with_a_placement_node_is_the_image_with_its_own_noise():
    own = ImageFormation(shape=(48, 48), phases=(SRTIO3_110,))
    placed = ImageFormation(shape=(48, 48), phases=(SRTIO3_110,), placement="placement")
    p = parameters(n=3, line_jitter=0.1, mains_amplitude=0.1, background=0.01)
    u = own.sample_noise(3, torch.Generator().manual_seed(2), CPU, torch.float64)
    expected = own.evaluate(p, u, n=3, device=CPU, dtype=torch.float64)
    assert placed.noise is None and "placement" in placed.parent_names()
    assert torch.equal(placed.evaluate({**p, "placement": u}, None, n=3, device=CPU, dtype=torch.float64), expected)
    with pytest.raises(ParameterError, match=r"placement node 'placement' must hold \(3, \d+\)"):
        placed.evaluate({**p, "placement": u[:, :5]}, None, n=3, device=CPU, dtype=torch.float64)


def test_column_map_settings_are_checked():
    with pytest.raises(ParameterError, match="placement"):
        ColumnMap(("SrO",), "", phases=(SRTIO3_110,))
    with pytest.raises(ParameterError, match=r"kinds must name distinct column kinds .*'Ti'"):
        ColumnMap(("Sr",), "placement", phases=(SRTIO3_110,))
    with pytest.raises(ParameterError, match="width"):
        ColumnMap(("Ti",), "placement", width=0.0, phases=(SRTIO3_110,))
    with pytest.raises(ParameterError, match="own name"):
        ImageFormation(placement="rotation")


def preset(name, probe_sigma, dose):
    ranges = {
        "probe_sigma": [probe_sigma, probe_sigma], "probe_tail_fraction": [0.3, 0.3], "probe_tail_width": [1.2, 1.2],
        "z_exponent": [1.6, 1.6], "pixel_size": [0.3, 0.3], "scale_error_x": [0.0, 0.0], "scale_error_y": [0.0, 0.0],
        "scan_shear": [0.0, 0.0], "scan_rotation": [0.0, 0.0], "drift_speed": [0.1, 0.1], "dwell_time": [2e-6, 2e-6],
        "flyback_time": [2e-5, 2e-5], "line_jitter": [0.05, 0.05], "mains_amplitude": [0.02, 0.02],
        "dose": [dose, dose], "gain": [10.0, 10.0], "offset": [100.0, 100.0], "read_noise": [1.0, 1.0],
        "saturation": [65535.0, 65535.0],
    }  # fmt: skip
    return ScannerPreset(name=name, description=name, ranges=ranges, log_uniform=["dose"])


def test_column_lab_samples_images_with_their_maps_and_another_scanner_keeps_the_columns():
    scanners = [preset("sharp", 0.4, 1e5), preset("blurry", 1.0, 3e3)]
    scm = column_lab(scanners, image_shape=(48, 48))
    envs = scanner_environments(scm, ["sharp", "blurry"])
    batch = envs.sample(4, seed=0)["sharp"]
    assert batch["image"].shape == (4, 48, 48) and batch["columns"].shape == (4, 2, 48, 48)
    assert scm.graph.roles["columns"] == "label" and scm.graph.roles["placement"] == "sample"
    # the same specimens and frames under the other scanner: the image changes, the columns (same scan) do not
    sharp = scm.do(scanner=0.0)
    sample = sharp.sample(4, seed=1, return_noise=True)
    other = sharp.counterfactual(sample, {"scanner": 1.0})
    assert torch.equal(other["columns"], sample["columns"]) and not torch.allclose(other["image"], sample["image"])
    # same seed, same numbers
    again = scanner_environments(column_lab(scanners, image_shape=(48, 48)), ["sharp", "blurry"]).sample(4, seed=0)
    assert torch.equal(again["sharp"]["columns"], batch["columns"]) and torch.equal(
        again["sharp"]["image"], batch["image"]
    )
    with pytest.raises(ParameterError, match="at least one scanner"):
        column_lab([])
    with pytest.raises(ParameterError, match="lattice_spread"):
        column_lab(scanners, lattice_spread=1.5)
    assert not math.isnan(float(np.mean(batch["columns"].numpy())))


def test_column_lab_passes_its_cell_grid_to_the_image_and_the_map_alike():
    scm = column_lab([preset("sharp", 0.4, 1e5)], image_shape=(32, 32), max_cells=20)
    assert scm.mechanisms["clean"].max_cells == scm.mechanisms["columns"].max_cells == 20
    batch = scm.sample(2, seed=0)
    assert batch["image"].shape == (2, 32, 32) and batch["columns"].shape == (2, 2, 32, 32)
