"""Crystal phases as projected 2D lattices: a unit cell (in units of the lattice constant) and atomic columns.

The annular-dark-field contrast of a column is ``Σ_atoms Z^n`` with ``n ≈ 1.4-1.7`` (n is set by the detector's
collection angles; 1.4 in jacobjma/fourier-scale-calibration ``simulate.py``, 1.7 in usnistgov/atomvision
``stemconv.py``). Each phase lists its columns with the atomic numbers stacked in them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from causalphys.errors import ParameterError


@dataclass(frozen=True)
class Phase:
    """A projected crystal: ``cell`` columns are the lattice vectors a1, a2 in units of the lattice constant;
    ``sites`` are fractional column positions; ``columns[s]`` the atomic numbers stacked in column ``s`` (per
    repeat along the beam); ``kinds[s]`` the column's name (what a column map calls its channel: ``"SrO"``,
    ``"Ti"``), ``site0``, ``site1``, ... when not given."""

    name: str
    cell: tuple[tuple[float, float], tuple[float, float]]
    sites: tuple[tuple[float, float], ...]
    columns: tuple[tuple[int, ...], ...]
    kinds: tuple[str, ...] | None = None

    def __post_init__(self):
        if len(self.columns) != len(self.sites):
            raise ParameterError(
                f"phase {self.name!r}: {len(self.sites)} site(s) but {len(self.columns)} column composition(s)"
            )
        if self.kinds is not None and len(self.kinds) != len(self.sites):
            raise ParameterError(f"phase {self.name!r}: {len(self.sites)} site(s) but {len(self.kinds)} kind(s)")

    @property
    def column_kinds(self) -> tuple[str, ...]:
        """The name of each site's column (``kinds``, or ``site0``, ``site1``, ...)."""
        return self.kinds if self.kinds is not None else tuple(f"site{i}" for i in range(len(self.sites)))


PEROVSKITE = Phase(
    "perovskite",  # SrTiO3 seen along [001]: Sr columns at the corners, Ti-O columns at the centre (square)
    cell=((1.0, 0.0), (0.0, 1.0)),
    sites=((0.0, 0.0), (0.5, 0.5)),
    columns=((38,), (22, 8)),
    kinds=("Sr", "TiO"),
)
HEXAGONAL = Phase(
    "hexagonal",  # 2H-MoS2 seen along [001]: a honeycomb of Mo columns and S2 columns on a triangular lattice
    cell=((1.0, 0.5), (0.0, math.sqrt(3) / 2)),
    sites=((0.0, 0.0), (1 / 3, 1 / 3)),
    columns=((42,), (16, 16)),
    kinds=("Mo", "S2"),
)
PHASES: tuple[Phase, ...] = (PEROVSKITE, HEXAGONAL)
"""The phases a ``phase`` node indexes: 0 = perovskite (square), 1 = hexagonal."""

SRTIO3_110 = Phase(
    # SrTiO3 (cubic perovskite, a = 3.905 Å; Sr at 000, Ti at ½½½, O at ½½0, ½0½, 0½½) seen along [110]: the
    # projected cell is a (along [001], a1) by a/√2 (along [1-10], a2). Atoms project by (z, (x - y)/√2) and stack
    # along x + y with period a√2: Sr 000 and O ½½0 share the column at (0, 0) (one of each per a√2); Ti ½½½ sits
    # alone at (½, 0); O ½0½ and O 1½½ make the pure-oxygen column at (½, ½) (two per a√2).
    "SrTiO3 [110]",
    cell=((1.0, 0.0), (0.0, 1.0 / math.sqrt(2))),
    sites=((0.0, 0.0), (0.5, 0.0), (0.5, 0.5)),
    columns=((38, 8), (22,), (8, 8)),
    kinds=("SrO", "Ti", "O"),
)
"""SrTiO3 along [110], the zone axis of the recorded image in ../shared/data/stem (see ``cubic_zone_axis``)."""


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
