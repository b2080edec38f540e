"""The projected crystals: SrTiO3 along [110] (the recorded image's zone axis) read back from rendered images."""

import math

import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.microscopy.analysis import column_widths, cubic_zone_axis, lattice_vectors
from causalphys.microscopy.imaging import ImageFormation
from causalphys.microscopy.phases import HEXAGONAL, PEROVSKITE, SRTIO3_110, Phase
from tests.microscopy.physics import BASE


def render(phase: Phase, n=1, shape=(192, 192), **overrides):
    mech = ImageFormation(shape=shape, max_cells=64, phases=(phase,))
    values = {**BASE, "phase": 0.0, "probe_tail_fraction": 0.0, **overrides}
    params = {k: torch.full((n,), float(v), dtype=torch.float64) for k, v in values.items()}
    u = mech.sample_noise(n, torch.Generator().manual_seed(0), torch.device("cpu"), torch.float64)
    return mech.evaluate(params, u, n=n, device=torch.device("cpu"), dtype=torch.float64)[0]


def test_srtio3_110_shows_a_by_a_over_root_two_and_reads_as_110():
    image = render(SRTIO3_110, pixel_size=0.15)
    lattice = lattice_vectors(image, pixel_size=0.15)
    # the strongest reflections: (1-10) planes a/√2 apart and (002) planes a/2 apart, at right angles
    assert sorted(lattice.spacings) == pytest.approx([3.905 / 2, 3.905 / math.sqrt(2)], rel=0.01)
    assert cubic_zone_axis(lattice).axis == "[110]"


@pytest.mark.parametrize(("phase", "axis"), [(PEROVSKITE, "[001]"), (HEXAGONAL, "[111]")])
def test_the_other_phases_read_as_their_own_patterns(phase, axis):
    image = render(phase, pixel_size=0.15, lattice_constant=3.905 if phase is PEROVSKITE else 3.16)
    assert cubic_zone_axis(lattice_vectors(image, pixel_size=0.15)).axis == axis


def test_srtio3_110_columns_are_as_bright_as_their_atoms():
    # rotation 0: a1 along the fast axis. Column heights follow Σ Z^n: SrO (38, 8), Ti (22), O (8, 8)
    n = 1.7
    image = render(SRTIO3_110, pixel_size=0.1, z_exponent=n, probe_sigma=0.3, shape=(160, 160))
    fits = column_widths(image, pixel_size=0.1, min_height=0.05, radius=0.6)
    heights = torch.as_tensor(fits.amplitude)
    bright = heights[heights > 0.6 * heights.max()].median()
    dim = heights[(heights > 0.2 * heights.max()) & (heights < 0.6 * heights.max())].median()
    assert float(bright / dim) == pytest.approx((38**n + 8**n) / 22**n, rel=0.05)
    assert SRTIO3_110.column_kinds == ("SrO", "Ti", "O") and PEROVSKITE.column_kinds == ("Sr", "TiO")


def test_a_pattern_of_no_cubic_axis_is_refused_and_bad_phases_named():
    image = render(Phase("oblique", ((1.0, 0.3), (0.0, 1.7)), ((0.0, 0.0),), ((38,),)), pixel_size=0.15)
    with pytest.raises(ParameterError, match="no cubic zone axis"):
        cubic_zone_axis(lattice_vectors(image, pixel_size=0.15))
    with pytest.raises(ParameterError, match="2 site"):
        Phase("bad", ((1.0, 0.0), (0.0, 1.0)), ((0.0, 0.0), (0.5, 0.5)), ((38,),))
    assert Phase("p", ((1.0, 0.0), (0.0, 1.0)), ((0.0, 0.0),), ((38,),)).column_kinds == ("site0",)


@pytest.mark.real_data
def test_the_recorded_srtio3_image_is_seen_along_110():
    from tests.microscopy.recorded_support import read_stem

    image, pixel_size = read_stem()
    lattice = lattice_vectors(image, pixel_size)
    zone = cubic_zone_axis(lattice)
    assert zone.axis == "[110]" and zone.mismatch < 0.02
    # (1-10) at a/√2 and (002) at a/2 with a = 3.905 Å, within the scan calibration's 1 %
    assert sorted(lattice.spacings) == pytest.approx([3.905 / 2, 3.905 / math.sqrt(2)], rel=0.01)
