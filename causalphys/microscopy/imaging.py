"""The image-formation mechanism: sample and instrument parameters in, the noiseless ADF image out.

One node of the microscopy SCM. Its parents are the sample's latents (phase, lattice constant, rotation, strain,
vacancy fraction, background level) and the instrument's parameters (probe, contrast exponent, scan). Its own
exogenous noise holds what belongs to this particular specimen and this particular frame — where the crystal sits
(offset), which columns are vacant, the thickness/contamination pattern, the per-line jitter and the mains phase —
so re-imaging the same units with another scanner (a counterfactual) keeps the specimen and redraws nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from causalphys.errors import ParameterError
from causalphys.microscopy.phases import PHASES, Phase, column_weights, phase_tables
from causalphys.microscopy.render import blur_and_scan, cell_window, column_pixels, deposit, inv2
from causalphys.microscopy.scan import line_displacements, raster
from causalphys.parallel import for_each_chunk
from causalphys.scm import catalog as mech
from causalphys.scm import noise as nz
from causalphys.scm.mechanism import Mechanism

SAMPLE_ROLES = (
    "phase",  # index into the phases (0 perovskite, 1 hexagonal)
    "lattice_constant",  # Å
    "rotation",  # in-plane rotation of the crystal, rad
    "strain_xx",
    "strain_yy",
    "strain_xy",  # symmetric strain tensor components (fractions)
    "vacancy_fraction",  # probability that a column is missing
    "background",  # thickness/contamination signal, fraction of electrons per incident electron
)
INSTRUMENT_ROLES = (
    "probe_sigma",  # Å, Gaussian core
    "probe_tail_fraction",  # intensity in the Lorentzian tail
    "probe_tail_width",  # Å
    "z_exponent",  # n in Z^n
    "pixel_size",  # Å per pixel, nominal calibration
    "scale_error_x",
    "scale_error_y",  # apparent spacing a(1 + s) along the fast / slow axis
    "scan_shear",  # rad
    "scan_rotation",  # rad
    "drift_speed",  # Å/s
    "drift_angle",  # rad
    "dwell_time",  # s
    "flyback_time",  # s
    "line_jitter",  # Å rms along the fast axis, per line
    "mains_amplitude",  # Å
    "mains_frequency",  # Hz
)
IMAGING_ROLES = SAMPLE_ROLES + INSTRUMENT_ROLES

_POSITIVE = ("lattice_constant", "probe_sigma", "probe_tail_width", "z_exponent", "pixel_size", "dwell_time")
_NONNEGATIVE = ("flyback_time", "line_jitter", "mains_amplitude", "mains_frequency", "drift_speed", "background")
_FRACTIONS = ("probe_tail_fraction", "vacancy_fraction")
_CHUNK = 64  # units rendered together: deposit, FFTs and background of a chunk run in the CPU cache
_GPU_CHUNK = 1024  # on a GPU: fewer, larger kernels (a GPU's images are its own: its FFTs round differently)


@dataclass
class _Frame:
    """The geometry of a batch of units (``ImageFormation._frame``): what the ADF image and the column maps share."""

    p: dict
    blocks: dict
    phase: torch.Tensor
    z: torch.Tensor  # (n, S, A) atomic numbers of each site's column
    lattice_px: torch.Tensor  # (n, 2, 2) fractional cell coordinates -> pixels
    site_fractions: torch.Tensor  # (n, S, 2)
    vacancy: torch.Tensor  # (n, grid, S) uniforms
    b: torch.Tensor  # (n, 2, 2) Å per pixel
    shift_px: torch.Tensor  # (n, Hp, 2) per-line displacements in pixels
    padded: tuple[int, int]
    window: tuple[slice, slice]
    max_cells: int

    def columns(self, c: slice) -> tuple[torch.Tensor, torch.Tensor]:
        """The pixel positions ``(m, C, S, 2)`` of the chunk's columns and which of them are there (not vacant).

        The chunk's cell window is as wide as its own widest unit: the extra cells of a wider window fall outside
        the field, so the deposited columns (and their order) are the same as for the whole batch."""
        hp, wp = self.padded
        offset = self.blocks["offset"][c]
        cells, index = cell_window(self.lattice_px[c], offset, (hp, wp), self.max_cells)
        q = column_pixels(self.lattice_px[c], cells, self.site_fractions[c], offset, ((wp - 1) / 2, (hp - 1) / 2))
        n_sites = self.site_fractions.shape[1]
        vacancy_u = self.vacancy[c].gather(1, index.unsqueeze(-1).expand(-1, -1, n_sites))
        keep = vacancy_u >= self.p["vacancy_fraction"][c].view(-1, 1, 1)
        return q, keep


def _lattice_vectors(p: Mapping[str, torch.Tensor], cells: torch.Tensor) -> torch.Tensor:
    """The sample's lattice vectors in Å, ``(n, 2, 2)``: ``R(rotation) · (I + ε) · cell · a`` with the symmetric
    strain ``ε = [[ε_xx, ε_xy], [ε_xy, ε_yy]]``, each unit's phase cell ``cells`` ``(n, 2, 2)`` (in units of the
    lattice constant) and its lattice constant ``a`` (``p`` holds the roles, each ``(n,)``)."""
    strain = torch.stack(
        [
            torch.stack([1 + p["strain_xx"], p["strain_xy"]], -1),
            torch.stack([p["strain_xy"], 1 + p["strain_yy"]], -1),
        ],
        -2,
    )
    c, s = torch.cos(p["rotation"]), torch.sin(p["rotation"])
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
    return rot @ strain @ cells * p["lattice_constant"].view(-1, 1, 1)


def _scan(
    p: Mapping[str, torch.Tensor], blocks: Mapping[str, torch.Tensor], rows: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The scan of a padded field of ``rows`` lines of ``width`` pixels: the pixel -> sample map ``b`` ``(n, 2, 2)``
    (Å per pixel, :func:`~causalphys.microscopy.scan.raster`) and each line's displacement ``(n, rows, 2)`` in Å
    (:func:`~causalphys.microscopy.scan.line_displacements`: drift, jitter ``σ_j Φ⁻¹(u)`` from the noise block
    ``jitter``, mains pick-up with phase and direction ``2π u`` from the block ``mains``)."""
    b, t_line = raster(p, p["pixel_size"], width)
    eps = torch.finfo(blocks["jitter"].dtype).eps
    jitter_z = torch.special.ndtri(blocks["jitter"].clamp(eps, 1 - eps))
    mains_phase, mains_direction = (2 * math.pi * blocks["mains"]).unbind(-1)
    shift = line_displacements(
        rows,
        t_line,
        p["line_jitter"],
        jitter_z,
        p["mains_amplitude"],
        p["mains_frequency"],
        mains_phase,
        mains_direction,
    )
    return b, shift


class ImageFormation(Mechanism):
    """``clean = render(sample, instrument, u)``: the noiseless fraction of electrons reaching the ADF detector at
    each pixel, shape ``(n, H, W)`` (see :mod:`causalphys.microscopy.render` for the physics).

    Parameters
    ----------
    shape : the image size ``(H, W)`` in pixels
    pad : margin rendered around the image so probe tails and scan shifts do not wrap around
    max_cells : half-width of the lattice-cell grid that is rendered (must cover the padded field; checked)
    cross_section : ``κ`` of the reference column (Sr in SrTiO3) in Å²; others scale as ``Σ Z^n / 38^n``
    background_modes : number of smooth cosine modes (15-60 Å wavelengths) of the thickness/contamination signal
    parents : ``{role: node}`` where the graph names a role differently (roles: :data:`IMAGING_ROLES`)
    placement : the name of a parent node that holds what is otherwise this node's own noise (where the crystal
        sits, which columns are vacant, the background's pattern, the lines' jitter and the mains phase: a uniform
        vector of :attr:`placement_size` per unit, made by :meth:`placement_root`), so that another mechanism — a
        :class:`ColumnMap` of the same specimen — can read the same draw. ``None``: the node's own noise.
    """

    def __init__(
        self,
        shape: tuple[int, int] = (64, 64),
        pad: int = 8,
        max_cells: int = 16,
        phases: tuple[Phase, ...] = PHASES,
        cross_section: float = 0.1,
        background_modes: int = 4,
        parents: Mapping[str, str] | None = None,
        placement: str | None = None,
    ):
        self.field = (int(shape[0]), int(shape[1]))  # the image's (H, W)
        if min(self.field) < 8:
            raise ParameterError(f"image shape must be at least 8x8 pixels, got {self.field}")
        self.shape = self.field
        self.pad = int(pad)
        self.max_cells = int(max_cells)
        self.phases = tuple(phases)
        self.cross_section = float(cross_section)
        self.background_modes = int(background_modes)
        unknown = sorted(set(parents or {}) - set(IMAGING_ROLES))
        if unknown:
            raise ParameterError(f"unknown image-formation role(s) {unknown}; roles are {list(IMAGING_ROLES)}")
        self.parents = {role: (parents or {}).get(role, role) for role in IMAGING_ROLES}
        self.n_sites = max(len(p.sites) for p in self.phases)
        padded_rows = self.field[0] + 2 * self.pad
        grid = (2 * self.max_cells + 1) ** 2
        layout = {
            "offset": 2,
            "vacancy": grid * self.n_sites,
            "background": 4 * self.background_modes,
            "jitter": padded_rows,
            "mains": 2,
        }
        self.layout = nz.UniformBlocks(layout)
        if placement is not None and placement in self.parents.values():
            raise ParameterError(f"placement node {placement!r} is also the node of a role: give it its own name")
        self.placement = placement
        self.noise = self.layout if placement is None else None

    @property
    def placement_size(self) -> int:
        """The length of the uniform vector that places a specimen and times a frame (this node's noise)."""
        return int(self.layout.shape[0])

    def placement_root(self) -> Mechanism:
        """A root mechanism for the ``placement`` node: ``U[0, 1)`` of :attr:`placement_size` per unit."""
        return mech.Uniform(0.0, 1.0, shape=self.placement_size)

    def parent_names(self):
        names = frozenset(self.parents.values())
        return names if self.placement is None else names | {self.placement}

    def split_noise(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """The named blocks of this node's uniform noise vector."""
        return self.layout.split(u)

    def _uniforms(self, parents, u, n: int) -> torch.Tensor:
        if self.placement is None:
            return u
        value = parents[self.placement]
        if tuple(value.shape) != (n, self.placement_size):
            raise ParameterError(
                f"placement node {self.placement!r} must hold ({n}, {self.placement_size}) uniforms, got "
                f"{tuple(value.shape)}"
            )
        return value

    def _check(self, p: Mapping[str, torch.Tensor]) -> None:
        for role in _POSITIVE:
            if not bool((p[role] > 0).all()):
                raise ParameterError(
                    f"{role} (node {self.parents[role]!r}) must be > 0, got min {p[role].min().item():g}"
                )
        for role in _NONNEGATIVE:
            if not bool((p[role] >= 0).all()):
                raise ParameterError(
                    f"{role} (node {self.parents[role]!r}) must be >= 0, got min {p[role].min().item():g}"
                )
        for role in _FRACTIONS:
            if not bool(((p[role] >= 0) & (p[role] <= 1)).all()):
                raise ParameterError(f"{role} (node {self.parents[role]!r}) must lie in [0, 1]")
        phase = p["phase"]
        if not bool(((phase >= 0) & (phase < len(self.phases)) & (phase == phase.round())).all()):
            raise ParameterError(
                f"phase (node {self.parents['phase']!r}) must be an index in 0..{len(self.phases) - 1}"
            )
        field = min(self.field) * p["pixel_size"]
        too_small = field < 2 * p["lattice_constant"] * (1 + p["strain_xx"].abs() + p["strain_yy"].abs())
        if bool(too_small.any()):
            i = int(too_small.nonzero()[0])
            raise ParameterError(
                f"the image is too small for the lattice: {min(self.field)} px x {p['pixel_size'][i].item():.3g} Å/px "
                f"holds fewer than two cells of {p['lattice_constant'][i].item():.3g} Å (unit {i})"
            )

    def evaluate(self, parents, u, *, n, device, dtype):
        frame = self._frame(parents, u, n, device, dtype)
        p = frame.p
        weights = column_weights(frame.z, p["z_exponent"]) / 38.0 ** p["z_exponent"].view(-1, 1)
        weights = (self.cross_section * weights).unsqueeze(1)  # (n, 1, S)
        probe = p["probe_sigma"], p["probe_tail_fraction"], p["probe_tail_width"]
        height, width = self.field
        image = torch.empty((n, height, width), device=device, dtype=dtype)

        def render(c: slice) -> None:  # units are independent; a chunk's arrays stay in cache
            q, keep = frame.columns(c)
            deposited = deposit(q, weights[c], keep, frame.padded)
            blurred = blur_and_scan(deposited, frame.b[c], frame.shift_px[c], *(x[c] for x in probe), *frame.window)
            background = self._background(frame.blocks["background"][c], p["background"][c], frame.b[c], height, width)
            torch.add(blurred, background, out=image[c])

        for_each_chunk(render, n, _CHUNK if image.device.type == "cpu" else _GPU_CHUNK, device=image.device)
        return image

    def _frame(self, parents, u, n, device, dtype) -> _Frame:
        """What every rendering of these units shares: the lattice in pixels, the columns' sites and atoms, the scan
        (pixel -> sample map, per-line displacements) and the noise blocks."""
        p = {role: parents[name].to(dtype) for role, name in self.parents.items()}
        self._check(p)
        blocks = self.split_noise(self._uniforms(parents, u, n).to(dtype))
        height, width = self.field
        hp, wp = height + 2 * self.pad, width + 2 * self.pad
        cells, sites, z = phase_tables(self.phases, device, dtype)
        phase = p["phase"].long()
        lattice = _lattice_vectors(p, cells[phase])
        b, shift = _scan(p, blocks, hp, wp)
        b_inv = inv2(b)
        return _Frame(
            p=p,
            blocks=blocks,
            phase=phase,
            z=z[phase],
            lattice_px=b_inv @ lattice,
            site_fractions=sites[phase],
            vacancy=blocks["vacancy"].view(n, -1, self.n_sites),
            b=b,
            shift_px=torch.einsum("nij,nrj->nri", b_inv, shift),
            padded=(hp, wp),
            window=(slice(self.pad, self.pad + height), slice(self.pad, self.pad + width)),
            max_cells=self.max_cells,
        )

    def _background(self, u: torch.Tensor, level: torch.Tensor, b: torch.Tensor, height: int, width: int):
        """``level · (1 + (1/2M) Σ_m a_m cos(2π k_m · r + φ_m))``: a smooth thickness/contamination signal in sample
        coordinates ``r`` (Å), wavelengths 15-60 Å."""
        m = self.background_modes
        if m == 0:
            return level.view(-1, 1, 1)
        amp, wavelength, direction, phase = u.view(-1, m, 4).unbind(-1)
        k = torch.stack([torch.cos(2 * math.pi * direction), torch.sin(2 * math.pi * direction)], -1)
        k = k / (15.0 + 45.0 * wavelength).unsqueeze(-1)  # cycles per Å
        kb = torch.einsum("nmi,nij->nmj", k, b)  # cycles per pixel along (fast, slow)
        x = torch.arange(width, device=b.device, dtype=b.dtype) - (width - 1) / 2
        y = torch.arange(height, device=b.device, dtype=b.dtype) - (height - 1) / 2
        # cos(α + β) = cos α cos β - sin α sin β, with α along the slow axis (+ phase), β along the fast axis
        alpha = 2 * math.pi * (kb[..., 1:2] * y.view(1, 1, -1) + phase.unsqueeze(-1))  # (n, m, H)
        beta = 2 * math.pi * kb[..., 0:1] * x.view(1, 1, -1)  # (n, m, W)
        rows = torch.cat([torch.cos(alpha), -torch.sin(alpha)], 1) * torch.cat([amp, amp], 1).unsqueeze(-1)
        cols = torch.cat([torch.cos(beta), torch.sin(beta)], 1)
        waves = rows.transpose(1, 2) @ cols  # (n, H, W)
        return level.view(-1, 1, 1) * (1 + waves / (2 * m))

    def __repr__(self):
        return f"ImageFormation(shape={self.field}, pad={self.pad}, phases={[p.name for p in self.phases]})"


class ColumnMap(ImageFormation):
    """``columns = map(sample, instrument, placement)``: where the atomic columns appear in the image, per kind of
    column, shape ``(n, K, H, W)`` — the dense target a column finder learns.

    Channel ``k`` holds a Gaussian of width ``width`` Å and height 1 at every column of kind ``kinds[k]``
    (:attr:`Phase.column_kinds`; a phase without that kind leaves the channel empty), rendered through the same
    scan as the image (scan calibration, drift, jitter, mains pick-up: the columns sit where the image shows them)
    with an ideal probe of that width and no background. Vacant columns are absent. The specimen and the frame come
    from the ``placement`` node that the image's :class:`ImageFormation` reads too, so the map and the image show the
    same columns; parents and roles are the image's (the probe, contrast-exponent and background roles are taken,
    not used).
    """

    def __init__(
        self,
        kinds: tuple[str, ...],
        placement: str,
        width: float = 0.3,
        shape: tuple[int, int] = (64, 64),
        pad: int = 8,
        max_cells: int = 16,
        phases: tuple[Phase, ...] = PHASES,
        background_modes: int = 4,
        parents: Mapping[str, str] | None = None,
    ):
        if not placement:
            raise ParameterError("a column map needs the placement node that its image reads (placement=...)")
        super().__init__(shape, pad, max_cells, phases, 0.1, background_modes, parents, placement)
        self.kinds = tuple(str(k) for k in kinds)
        known = sorted({k for phase in self.phases for k in phase.column_kinds})
        unknown = [k for k in self.kinds if k not in known]
        if not self.kinds or unknown or len(set(self.kinds)) != len(self.kinds):
            raise ParameterError(f"kinds must name distinct column kinds of the phases {known}, got {list(kinds)}")
        if not (math.isfinite(width) and width > 0):
            raise ParameterError(f"width must be > 0 (Å), got {width}")
        self.width = float(width)
        self.shape = (len(self.kinds), *self.field)

    def evaluate(self, parents, u, *, n, device, dtype):
        frame = self._frame(parents, u, n, device, dtype)
        # one-hot (phase, site, kind), scaled so that a column's Gaussian peaks at 1: P(0) = 1 / (2π w²)
        table = torch.zeros(len(self.phases), self.n_sites, len(self.kinds), device=device, dtype=dtype)
        for i, phase in enumerate(self.phases):
            for s, kind in enumerate(phase.column_kinds):
                if kind in self.kinds:
                    table[i, s, self.kinds.index(kind)] = 2 * math.pi * self.width**2
        weights = table[frame.phase]  # (n, S, K)
        width = torch.full((n,), self.width, device=device, dtype=dtype)
        none = torch.zeros(n, device=device, dtype=dtype)
        out = torch.empty((n, *self.shape), device=device, dtype=dtype)

        def render(c: slice) -> None:
            q, keep = frame.columns(c)
            for k in range(len(self.kinds)):
                deposited = deposit(q, weights[c, :, k].unsqueeze(1), keep, frame.padded)
                out[c, k] = blur_and_scan(
                    deposited, frame.b[c], frame.shift_px[c], width[c], none[c], width[c], *frame.window
                )

        for_each_chunk(render, n, _CHUNK if out.device.type == "cpu" else _GPU_CHUNK, device=out.device)
        return out

    def __repr__(self):
        return (
            f"ColumnMap(kinds={list(self.kinds)}, width={self.width}, shape={self.field}, placement={self.placement!r})"
        )
