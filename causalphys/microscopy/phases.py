"""Crystal phases as projected 2D lattices: a unit cell (in units of the lattice constant) and atomic columns.

The annular-dark-field contrast of a column is ``Σ_atoms Z^n`` with ``n ≈ 1.4-1.7`` (n is set by the detector's
collection angles; 1.4 in jacobjma/fourier-scale-calibration ``simulate.py``, 1.7 in usnistgov/atomvision
``stemconv.py``). Each phase lists its columns with the atomic numbers stacked in them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Phase:
    """A projected crystal: ``cell`` columns are the lattice vectors a1, a2 in units of the lattice constant;
    ``sites`` are fractional column positions; ``columns[s]`` the atomic numbers stacked in column ``s``."""

    name: str
    cell: tuple[tuple[float, float], tuple[float, float]]
    sites: tuple[tuple[float, float], ...]
    columns: tuple[tuple[int, ...], ...]


PEROVSKITE = Phase(
    "perovskite",  # SrTiO3 seen along [001]: Sr columns at the corners, Ti-O columns at the centre (square)
    cell=((1.0, 0.0), (0.0, 1.0)),
    sites=((0.0, 0.0), (0.5, 0.5)),
    columns=((38,), (22, 8)),
)
HEXAGONAL = Phase(
    "hexagonal",  # 2H-MoS2 seen along [001]: a honeycomb of Mo columns and S2 columns on a triangular lattice
    cell=((1.0, 0.5), (0.0, math.sqrt(3) / 2)),
    sites=((0.0, 0.0), (1 / 3, 1 / 3)),
    columns=((42,), (16, 16)),
)
PHASES: tuple[Phase, ...] = (PEROVSKITE, HEXAGONAL)
"""The phases a ``phase`` node indexes: 0 = perovskite (square), 1 = hexagonal."""


def phase_tables(phases: tuple[Phase, ...], device, dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stacked tables: cells ``(P, 2, 2)`` (columns a1, a2), sites ``(P, S, 2)``, atomic numbers ``(P, S, A)``
    (zero-padded; phases with fewer sites repeat a site with no atoms)."""
    n_sites = max(len(p.sites) for p in phases)
    n_atoms = max(len(c) for p in phases for c in p.columns)
    cells = torch.tensor([p.cell for p in phases], dtype=dtype, device=device)  # rows as written: columns a1, a2
    sites = torch.zeros(len(phases), n_sites, 2, dtype=dtype, device=device)
    z = torch.zeros(len(phases), n_sites, n_atoms, dtype=dtype, device=device)
    for i, p in enumerate(phases):
        sites[i, : len(p.sites)] = torch.tensor(p.sites, dtype=dtype)
        for s, column in enumerate(p.columns):
            z[i, s, : len(column)] = torch.tensor(column, dtype=dtype)
    return cells, sites, z


def column_weights(z: torch.Tensor, exponent: torch.Tensor) -> torch.Tensor:
    """``Σ_atoms Z^n`` per column: ``z`` ``(n, S, A)``, ``exponent`` ``(n,)`` -> ``(n, S)``."""
    powered = torch.where(z > 0, z.clamp_min(1.0) ** exponent.view(-1, 1, 1), torch.zeros_like(z))
    return powered.sum(-1)
