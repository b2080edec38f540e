"""Image formation: atomic columns blurred by the probe, seen through the distorted raster scan.

The noiseless ADF signal at the probe position ``r`` is the fraction of electrons scattered onto the detector,

    f(r) = Σ_c κ_c · P(r - r_c),

with columns ``c`` at ``r_c``, cross-sections ``κ_c ∝ Σ Z^n`` (``phases``) and the probe ``P`` (``probe``). With the
scan of ``scan`` — pixel ``q = (j, i)`` sees ``r = B (q - q₀) + d_i`` — the image is
``g(q) = Σ_c κ_c P(B (q - q_c)) `` evaluated at ``q + B⁻¹ d_i``, with the columns at ``q_c = B⁻¹ r_c + q₀`` in pixels.

Rendering: each column is deposited onto its four nearest pixels (bilinear weights: positions are exact, at most
1/6 px² of extra blur variance); the deposited columns are Fourier transformed (real FFT); the probe is applied in
closed form at the scan-distorted frequencies (``P∘B`` has transform ``P̂(B⁻ᵀk) / |det B|``); the inverse transform
runs along the slow axis (lines at integer positions, a line displaced along the slow axis interpolated linearly
between its two neighbours) and then along each line with a phase ramp that displaces it exactly along the fast
axis. Work is ``O(n · H W log(HW))``, no loop per image.
The field is rendered with ``pad`` pixels of margin on each side, so probe tails do not wrap around.
"""

from __future__ import annotations

import math

import torch

from causalphys.errors import ParameterError
from causalphys.microscopy.probe import probe_transfer


def cell_window(lattice_px: torch.Tensor, offset: torch.Tensor, field: tuple[int, int], max_cells: int):
    """The lattice cells whose columns can land in the field: per unit, a window of cell indices.

    ``lattice_px`` ``(n, 2, 2)`` maps fractional cell coordinates to pixels (relative to the field's centre);
    ``field`` is ``(H, W)``. Returns the cell indices ``(n, C, 2)`` (the same number ``C`` for every unit: the
    largest window in the batch, anchored at each unit's own corner) and, for each, its position ``(n, C)`` in the
    fixed ``(2 · max_cells + 1)²`` grid that indexes per-cell noise. Raises if a window leaves that grid.
    """
    height, width = field
    corners = torch.tensor(
        [[-1, -1], [1, -1], [-1, 1], [1, 1]], device=lattice_px.device, dtype=lattice_px.dtype
    ) * torch.tensor([(width + 1) / 2, (height + 1) / 2], device=lattice_px.device, dtype=lattice_px.dtype)
    frac = torch.einsum("nij,cj->nci", inv2(lattice_px), corners) - offset.unsqueeze(1)
    low = torch.floor(frac.amin(1)) - 1  # sites lie in [0, 1) of their cell
    high = torch.ceil(frac.amax(1))
    span = (high - low).amax(0).long() + 1  # (2,)
    rm = torch.arange(int(span[0]), device=frac.device, dtype=frac.dtype)
    rn = torch.arange(int(span[1]), device=frac.device, dtype=frac.dtype)
    m, n = torch.meshgrid(rm, rn, indexing="ij")
    cells = torch.stack([m.reshape(-1), n.reshape(-1)], -1).unsqueeze(0) + low.unsqueeze(1)  # (n, C, 2)
    reach = cells.abs().amax()
    if reach > max_cells:
        raise ParameterError(
            f"the field needs lattice cells up to index {int(reach)}, beyond max_cells={max_cells}: "
            "raise max_cells (or use a smaller field or a larger lattice constant)"
        )
    side = 2 * max_cells + 1
    index = ((cells[..., 0] + max_cells) * side + (cells[..., 1] + max_cells)).long()
    return cells, index


def column_pixels(
    lattice_px: torch.Tensor,
    cells: torch.Tensor,
    sites: torch.Tensor,
    offset: torch.Tensor,
    centre: tuple[float, float],
) -> torch.Tensor:
    """Pixel positions ``(n, C, S, 2)`` (x = fast, y = slow) of the columns of the given cells.

    ``lattice_px`` ``(n, 2, 2)`` maps fractional coordinates to pixels; ``cells`` ``(n, C, 2)``; ``sites``
    ``(n, S, 2)`` fractional; ``offset`` ``(n, 2)`` fractional shift of the crystal.
    """
    origin = torch.einsum("nij,ncj->nci", lattice_px, cells + offset.unsqueeze(1))  # (n, C, 2)
    site_px = torch.einsum("nij,nsj->nsi", lattice_px, sites)  # (n, S, 2)
    q = origin.unsqueeze(2) + site_px.unsqueeze(1)
    return q + torch.tensor(centre, device=q.device, dtype=q.dtype)


def deposit(q: torch.Tensor, weights: torch.Tensor, keep: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bilinear deposition of point weights onto ``(n, H, W)`` grids; points outside are dropped.

    ``q`` ``(n, ..., 2)`` pixel positions, ``weights`` and ``keep`` broadcastable to ``q[..., 0]``.
    """
    n = q.shape[0]
    height, width = shape
    x, y = q[..., 0], q[..., 1]
    w = torch.broadcast_to(weights, x.shape)
    inside = keep & (x >= 0) & (x < width - 1) & (y >= 0) & (y < height - 1)
    batch = torch.arange(n, device=q.device).view((n,) + (1,) * (x.dim() - 1)).expand_as(x)
    x, y, w, batch = x[inside], y[inside], w[inside], batch[inside]
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    base = batch * (height * width) + y0.long() * width + x0.long()
    out = torch.zeros(n * height * width, device=q.device, dtype=q.dtype)
    gx, gy = 1 - fx, 1 - fy
    # the four corners one after the other: the same sums, in the same order, as one index_add_ over all of them
    for offset, value in ((0, w * gx * gy), (1, w * fx * gy), (width, w * gx * fy), (width + 1, w * fx * fy)):
        out.index_add_(0, base + offset if offset else base, value)
    return out.view(n, height, width)


def det2(m: torch.Tensor) -> torch.Tensor:
    """Determinants of ``(n, 2, 2)`` matrices (closed form: batched LU is slow for 2x2)."""
    return m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]


def inv2(m: torch.Tensor) -> torch.Tensor:
    """Inverses of ``(n, 2, 2)`` matrices (closed form)."""
    adj = torch.stack([torch.stack([m[:, 1, 1], -m[:, 0, 1]], -1), torch.stack([-m[:, 1, 0], m[:, 0, 0]], -1)], -2)
    return adj / det2(m).view(-1, 1, 1)


def blur_and_scan(
    deposited: torch.Tensor,
    b: torch.Tensor,
    line_shift: torch.Tensor,
    sigma: torch.Tensor,
    tail_fraction: torch.Tensor,
    tail_width: torch.Tensor,
    rows: slice,
    cols: slice,
) -> torch.Tensor:
    """Apply the probe (in Fourier space, at the distorted frequencies) and sample each line at its displaced
    position; returns the ``rows`` x ``cols`` window.

    ``deposited`` ``(n, Hp, Wp)``; ``b`` ``(n, 2, 2)`` Å per pixel; ``line_shift`` ``(n, Hp, 2)`` in pixels.
    With ``D̂ = rfft2(deposited)`` over pixel frequencies ``k = (f_x, f_y)`` and ``Q = B⁻¹ B⁻ᵀ`` (so that
    ``|B⁻ᵀ k|² = kᵀ Q k`` in cycles²/Å²), line ``i`` of the image is

        g_i = irfft_x( e^{2πi f_x dx_i} · [(1 − t_i) · L_{⌊y_i⌋} + t_i · L_{⌊y_i⌋+1}] ),
        L = ifft_y( D̂ · P̂(kᵀ Q k) / |det B| ),   y_i = i + dy_i,   t_i = y_i − ⌊y_i⌋,

    ``d_i = (dx_i, dy_i)`` the line's displacement. The fast-axis displacement of a line is exact (the phase ramp
    before the inverse transform along the line); the slow-axis displacement (mains pick-up only, a fraction of a
    pixel) interpolates linearly between the two nearest lines. Units are independent: a caller can run the batch
    in chunks (``ImageFormation`` does, so that every pass over a chunk's spectra runs in cache).
    """
    n, hp, wp = deposited.shape
    fy = torch.fft.fftfreq(hp, device=b.device, dtype=b.dtype)
    fx = torch.fft.rfftfreq(wp, device=b.device, dtype=b.dtype)
    b_inv = inv2(b)
    # |B^{-T} k|² = kᵀ Q k with Q = B^{-1} B^{-T}: squared spatial frequency (cycles²/Å²) of pixel frequency k
    quad = b_inv @ b_inv.transpose(1, 2)
    fx2, fy2 = (fx * fx).view(1, 1, -1), (fy * fy).view(1, -1, 1)
    fxy = (fy.view(-1, 1) * fx.view(1, -1)).unsqueeze(0)
    k2 = quad[:, 0, 0].view(-1, 1, 1) * fx2 + quad[:, 1, 1].view(-1, 1, 1) * fy2
    k2 = k2.addcmul_(fxy, 2 * quad[:, 0, 1].view(-1, 1, 1))
    transfer = probe_transfer(k2, sigma, tail_fraction, tail_width).div_(det2(b).abs().view(-1, 1, 1))
    spectrum = torch.fft.rfft2(deposited)  # (n, Hp, F), F = Wp//2 + 1
    torch.view_as_real(spectrum).mul_(transfer.unsqueeze(-1))  # a real factor on both parts
    half = torch.fft.ifft(spectrum, dim=1)  # lines at integer positions, still a half-spectrum along x
    # each kept line i is read at i + dy_i: linear interpolation between lines floor and floor + 1, which are
    # whole rows of the flattened (n · Hp, F) lines (real and imaginary parts interpolate alike)
    shift = line_shift[:, rows]  # (n, H, 2)
    position = torch.arange(hp, device=b.device, dtype=b.dtype)[rows].view(1, -1) + shift[..., 1]
    below = position.floor().clamp(0, hp - 2)
    frac = (position - below).clamp(0, 1).view(-1, 1, 1)
    first = (below.long() + hp * torch.arange(n, device=b.device).view(-1, 1)).view(-1)  # (n · H,)
    flat = torch.view_as_real(half).reshape(n * hp, fx.numel(), 2)
    lines = flat.index_select(0, first).mul_(1 - frac).add_(flat.index_select(0, first + 1).mul_(frac))
    lines = torch.view_as_complex(lines).view(n, -1, fx.numel())
    ramp = torch.polar(torch.ones_like(frac).view(n, -1, 1).expand_as(lines), 2 * math.pi * shift[..., 0:1] * fx)
    return torch.fft.irfft(lines.mul_(ramp), n=wp, dim=-1)[..., cols]
