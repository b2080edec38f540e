"""Hand-set parameters for the image-formation tests (every role a constant)."""

import torch

from causalphys.microscopy.imaging import ImageFormation

BASE = dict(
    phase=0.0,
    lattice_constant=3.905,
    rotation=0.0,
    strain_xx=0.0,
    strain_yy=0.0,
    strain_xy=0.0,
    vacancy_fraction=0.0,
    background=0.0,
    probe_sigma=0.4,
    probe_tail_fraction=0.35,
    probe_tail_width=1.2,
    z_exponent=1.6,
    pixel_size=0.2,
    scale_error_x=0.0,
    scale_error_y=0.0,
    scan_shear=0.0,
    scan_rotation=0.0,
    drift_speed=0.0,
    drift_angle=0.0,
    dwell_time=5e-6,
    flyback_time=50e-6,
    line_jitter=0.0,
    mains_amplitude=0.0,
    mains_frequency=50.0,
)


def render(n=1, shape=(256, 256), seed=0, dtype=torch.float64, **overrides):
    """Render ``n`` clean images with the base parameters and ``overrides``; returns (images, mechanism, params)."""
    mech = ImageFormation(shape=shape, max_cells=64)
    params = {k: torch.full((n,), float(v), dtype=dtype) for k, v in {**BASE, **overrides}.items()}
    u = mech.sample_noise(n, torch.Generator().manual_seed(seed), torch.device("cpu"), dtype)
    return mech.evaluate(params, u, n=n, device=torch.device("cpu"), dtype=dtype), mech, params
