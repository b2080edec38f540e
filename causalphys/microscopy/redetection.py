"""The re-imaging mechanism: a recorded image seen through a broader probe, another scan and a lower dose.

The structural equation of node ``image``, per unit (parents: ``recorded`` ``(n, H, W)`` and the instrument nodes
:data:`INSTRUMENT_NODES`, each ``(n,)``; the recorded instrument of :class:`~causalphys.microscopy.recorded.
RecordedInstrument` gives ``σ_rec``, ``D_rec``, the black level ``x₀`` and gain ``g_rec``)::

    y = resample(blur(x, σ_add), scan positions)          σ_add = √(σ_req² − σ_rec²)  (Å)
    b = max(y − x₀, 0) / g_rec                            recorded electrons per pixel
    p = D / D_rec,  λ = p · b                             expected electrons at the requested dose D
    e = s · F⁻¹_Poisson(λ / s)(u₀),  s = 1 − p · w        (e = λ where s = 0)
    image = clamp(gain · e + offset + read_noise · z, 0, saturation)      z = Φ⁻¹(u₁)

- Probe and scan: :mod:`causalphys.microscopy.resample` (Gaussian blur and bilinear resampling, both reflecting at
  the borders). The scan's per-line jitter and mains phase and direction come from this node's noise.
- Dose: ``b`` already carries the recording's shot noise, of which a fraction ``w`` (:func:`~causalphys.
  microscopy.resample.kept_noise`: 1 untouched, less where the blur and the interpolation averaged pixels) is left,
  scaled by ``p``: variance ``p² w b``. The added noise ``s · Poisson(λ / s)`` has mean ``λ`` and variance
  ``s λ = p b − p² w b``, so the total is ``p b = λ``: Poisson statistics at the requested dose (in mean and
  variance) whatever the recorded dose, with nothing added where nothing is missing (``p = 1``, ``w = 1``). For a
  dose far below the recorded one (``p ≪ 1``), ``s → 1``: the requested dose's Poisson noise on the recorded
  intensity. Where the stack holds counts and a unit is neither blurred nor moved, ``b`` is a whole number of
  electrons and the lower dose is exact binomial thinning, ``e = F⁻¹_Bin(b, p)(u₀)`` (:func:`binomial_icdf`).
- Detector: gain, offset, read noise and saturation as in :class:`~causalphys.microscopy.detector.Detector`; the
  counts are drawn by the same inverse-CDF map (:func:`~causalphys.microscopy.poisson.poisson_icdf`) from explicit
  uniforms, so a counterfactual (same unit, another setting) keeps the quantiles.

At the recorded defaults (every instrument node at its default value) the node is the recording itself, exactly.
Refused (a :class:`ParameterError` naming the node): ``σ_req < σ_rec`` and ``D > D_rec`` — the recording does not
hold that information.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from causalphys.errors import ParameterError
from causalphys.microscopy.poisson import U_CAP, poisson_icdf
from causalphys.microscopy.resample import gaussian_blur, kept_noise, resample, scan_positions
from causalphys.scm import noise as nz
from causalphys.scm.mechanism import Mechanism

if TYPE_CHECKING:
    from causalphys.microscopy.recorded import RecordedInstrument

INSTRUMENT_NODES = (
    "probe_sigma",
    "dose",
    "drift_speed",
    "drift_angle",
    "line_jitter",
    "mains_amplitude",
    "mains_frequency",
    "scale_error_x",
    "scale_error_y",
    "scan_shear",
    "scan_rotation",
    "dwell_time",
    "flyback_time",
    "gain",
    "offset",
    "read_noise",
    "saturation",
)
"""The instrument nodes of a recorded SCM (units: Å, Å/s, rad, Hz, s, e⁻/Å², the recording's units for the
detector), named as in :data:`~causalphys.microscopy.scanners.PARAMETERS`."""

_POSITIVE = ("probe_sigma", "dose", "dwell_time", "gain")
_NONNEGATIVE = ("drift_speed", "line_jitter", "mains_amplitude", "mains_frequency", "flyback_time", "read_noise")
SCAN_MOVES = (  # the scan distortions (drift, jitter, mains pick-up, calibration)
    "drift_speed",
    "line_jitter",
    "mains_amplitude",
    "scale_error_x",
    "scale_error_y",
    "scan_shear",
    "scan_rotation",
)


def _error(node: str, message: str) -> ParameterError:
    """A ParameterError that names ``node`` (the SCM passes it on as it is)."""
    err = ParameterError(f"node {node!r}: {message}")
    err.node = node
    return err


def binomial_icdf(trials: torch.Tensor, p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Binomial thinning by inverse CDF: ``min{j ≥ 0 : F(j; k, p) ≥ u}`` for ``k = trials`` (whole numbers ≥ 0),
    success probability ``p ∈ [0, 1]`` and uniforms ``u``; tensors that broadcast together, counts out in float64.

    Sequential search with the pmf recursion ``P(j + 1) = P(j) · (k − j) / (j + 1) · p / (1 − p)`` in float64,
    started at ``j₀ = max(0, ⌊kp − 12 √(kp(1−p)) − 12⌋)`` with ``P(j₀)`` from ``lgamma`` (the mass below ``j₀`` is
    below 1e-30, far under the resolution of ``u``; starting at 0 would underflow ``(1 − p)^k`` for large ``k``).
    The working set shrinks as elements finish; ``u`` is capped at ``1 − 2⁻⁴⁰`` and ``j`` at ``k``. The same ``u``
    at a smaller ``p`` gives fewer or as many successes (the quantile coupling of a counterfactual).
    """
    k, p, u = torch.broadcast_tensors(*(torch.as_tensor(t).to(torch.float64) for t in (trials, p, u)))
    shape = k.shape
    k, p, u = k.reshape(-1), p.reshape(-1), u.reshape(-1).clamp(0.0, U_CAP)  # as in the Poisson search
    if bool(((k < 0) | (k != k.round())).any()):
        raise ParameterError("binomial thinning needs whole numbers of trials (counts) >= 0")
    if bool(((p < 0) | (p > 1)).any()):
        raise ParameterError("binomial thinning needs probabilities p in [0, 1]")
    out = torch.where(p >= 1, k, torch.zeros_like(k))
    todo = ((p > 0) & (p < 1) & (k > 0)).nonzero().squeeze(1)
    if todo.numel() == 0:
        return out.reshape(shape)
    kk, pp = k[todo], p[todo]
    sd = torch.sqrt(kk * pp * (1 - pp))
    j = torch.clamp(torch.floor(kk * pp - 12 * sd - 12), min=0.0)
    log_pmf = torch.lgamma(kk + 1) - torch.lgamma(j + 1) - torch.lgamma(kk - j + 1)
    pmf = torch.exp(log_pmf + j * torch.log(pp) + (kk - j) * torch.log1p(-pp))
    # one (7, m) table of the working set, gathered once per step: index, k, u, p / (1 - p), j, P(j), F(j)
    state = torch.stack([todo.to(torch.float64), kk, u[todo], pp / (1 - pp), j, pmf, pmf.clone()])
    while True:
        index, kk, uu, odds, j, pmf, cdf = state
        going = (cdf < uu) & (j < kk)
        done = ~going
        out[index[done].long()] = j[done]
        if not bool(going.any()):
            break
        state = state[:, going]
        index, kk, uu, odds, j, pmf, cdf = state
        pmf.mul_((kk - j) / (j + 1) * odds)
        j.add_(1)
        cdf.add_(pmf)
    return out.reshape(shape)


class Reimaging(Mechanism):
    """``image = re-image(recorded, instrument)`` (module docstring), shape ``(n, H, W)``.

    Noise: one uniform vector per unit, ``(n, H + 2 + 2HW)``: the per-line jitter (``H``, through ``Φ⁻¹``), the
    mains phase and direction (2), the shot-noise uniforms (``H·W``) and the read-noise uniforms (``H·W``, through
    ``Φ⁻¹``). All of it belongs to the imaging session. With the noise removed (``with_noise(None)``) the node is
    the expected re-imaged signal: no jitter, mains phase and direction 0, no shot or read noise.

    Parameters
    ----------
    shape : ``(H, W)`` of the recorded images
    instrument : the :class:`~causalphys.microscopy.recorded.RecordedInstrument` (resolution, dose, black level, gain,
        whether the stack holds counts, and the instrument nodes' defaults)
    exact_poisson_below : rates below this use the exact Poisson quantile (see :func:`poisson_icdf`)
    """

    def __init__(self, shape: tuple[int, int], instrument: RecordedInstrument, exact_poisson_below: float = 10.0):
        self.shape = (int(shape[0]), int(shape[1]))
        self.instrument = instrument
        self.exact_poisson_below = float(exact_poisson_below)
        h, w = self.shape
        layout = {"jitter": h, "mains": 2, "shot": h * w, "read": h * w}
        self.noise = nz.UniformBlocks(layout)

    def parent_names(self):
        return frozenset({"recorded", *INSTRUMENT_NODES})

    def split_noise(self, u: torch.Tensor) -> dict[str, torch.Tensor]:
        """The named blocks of this node's uniform noise vector (views)."""
        return self.noise.split(u)

    def _check(self, p: dict[str, torch.Tensor], dtype: torch.dtype) -> None:
        """Refuse what the recording does not hold; reject impossible values (each error names its node)."""
        for node in _POSITIVE:
            if not bool((p[node] > 0).all()):
                raise _error(node, f"must be > 0, got min {p[node].min().item():g}")
        for node in _NONNEGATIVE:
            if not bool((p[node] >= 0).all()):
                raise _error(node, f"must be >= 0, got min {p[node].min().item():g}")
        for node in ("scale_error_x", "scale_error_y"):
            if not bool((p[node] > -1).all()):
                raise _error(node, f"must be > -1 (a scale factor 1 + s > 0), got min {p[node].min().item():g}")
        if not bool((p["saturation"] > p["offset"]).all()):
            raise _error("saturation", "must lie above the offset")
        rec = self.instrument
        sigma_rec = torch.tensor(rec.probe_sigma, dtype=dtype).item()  # compared as the node holds it
        if bool((p["probe_sigma"] < sigma_rec).any()):
            raise _error(
                "probe_sigma",
                f"a probe of {p['probe_sigma'].min().item():.3g} Å is narrower than the recorded resolution "
                f"{rec.probe_sigma:.3g} Å ({rec.resolution_source}): the recording does not hold that information "
                "(a broader probe can be re-imaged, a sharper one cannot)",
            )
        dose_rec = torch.tensor(rec.dose, dtype=dtype).item()
        if bool((p["dose"] > dose_rec).any()):
            raise _error(
                "dose",
                f"a dose of {p['dose'].max().item():.4g} e⁻/Å² is above the recorded dose {rec.dose:.4g} e⁻/Å² "
                f"({rec.dose_source}): the recording does not hold that information (its shot noise cannot be "
                "taken away; ask for a dose at or below the recorded one)",
            )

    def evaluate(self, parents, u, *, n, device, dtype):
        x = parents["recorded"]
        if tuple(x.shape) != (n, *self.shape):
            raise _error("recorded", f"must have shape {(n, *self.shape)}, got {tuple(x.shape)}")
        p = {node: parents[node].to(torch.float64) for node in INSTRUMENT_NODES}
        self._check(p, dtype)
        defaults = {k: torch.tensor(v, dtype=dtype).item() for k, v in self.instrument.defaults.items()}
        at_default = {k: parents[k] == defaults[k] for k in INSTRUMENT_NODES}  # each (n,), compared in dtype
        as_recorded = torch.stack(list(at_default.values())).all(0)
        if bool(as_recorded.all()):
            return x.clone()
        blocks = None if u is None else {k: v.to(torch.float64) for k, v in self.split_noise(u).items()}
        rec = self.instrument
        sigma = torch.sqrt((p["probe_sigma"] ** 2 - rec.probe_sigma**2).clamp_min(0.0)) / rec.pixel_size  # px
        sigma = torch.where(at_default["probe_sigma"], torch.zeros_like(sigma), sigma)
        x64 = x.to(torch.float64)
        blurred = gaussian_blur(x64, sigma) if bool((sigma > 0).any()) else x64
        blurred = torch.where((sigma > 0).view(-1, 1, 1), blurred, x64)
        scanned, kept, moved = self._scan(blurred, sigma, p, blocks)
        electrons = (scanned - rec.black_level).clamp_min(0.0) / rec.gain  # recorded electrons per pixel
        ratio = torch.where(at_default["dose"], 1.0, (p["dose"] / rec.dose).clamp(max=1.0)).view(-1, 1, 1)
        whole = rec.counts & (sigma == 0) & ~moved  # whole electrons, untouched by the probe and the scan
        detected = ratio * electrons if blocks is None else self._detect(electrons, ratio, kept, whole, blocks)
        image = p["gain"].view(-1, 1, 1) * detected + p["offset"].view(-1, 1, 1)
        if blocks is not None and bool((p["read_noise"] > 0).any()):
            eps = torch.finfo(torch.float64).eps
            read = torch.special.ndtri(blocks["read"].view(image.shape).clamp(eps, 1 - eps))
            image = image + p["read_noise"].view(-1, 1, 1) * read
        image = torch.minimum(image.clamp_min(0.0), p["saturation"].view(-1, 1, 1)).to(dtype)
        return torch.where(as_recorded.view(-1, 1, 1), x, image)

    def _scan(self, blurred, sigma, p, blocks):
        """``(scanned, kept, moved)``: the blurred images read along the new scan (``(n, H, W)``), the fraction of
        the recorded noise variance they keep (``(n, H, W)``) and which units the scan moved (``(n,)``)."""
        n, h, _ = blurred.shape
        moved = torch.stack([p[k] != 0 for k in SCAN_MOVES]).any(0)
        if not bool(moved.any()):
            return blurred, kept_noise(self.shape, sigma, None), moved
        if blocks is not None:
            eps = torch.finfo(torch.float64).eps
            jitter_z = torch.special.ndtri(blocks["jitter"].clamp(eps, 1 - eps))
            mains_phase, mains_direction = (2 * math.pi * blocks["mains"]).unbind(-1)
        else:  # the expected signal: no jitter, the mains at phase 0 along the fast axis
            jitter_z = torch.zeros((n, h), device=blurred.device, dtype=torch.float64)
            mains_phase = mains_direction = torch.zeros(n, device=blurred.device, dtype=torch.float64)
        positions = scan_positions(self.shape, self.instrument.pixel_size, p, jitter_z, mains_phase, mains_direction)
        where = moved.view(-1, 1, 1)
        scanned = torch.where(where, resample(blurred, positions), blurred)
        kept = torch.where(where, kept_noise(self.shape, sigma, positions), kept_noise(self.shape, sigma, None))
        return scanned, kept, moved

    def _detect(self, electrons, ratio, kept, whole, blocks):
        """Detected electrons at the requested dose, ``(n, H, W)``: binomial thinning for the ``whole`` units,
        the Poisson top-up ``s · F⁻¹_Poisson(λ / s)`` for the others (module docstring)."""
        shot = blocks["shot"].view(electrons.shape)
        detected = torch.empty_like(electrons)
        exact, other = whole.nonzero().squeeze(1), (~whole).nonzero().squeeze(1)
        if exact.numel():
            detected[exact] = binomial_icdf(electrons[exact], ratio[exact], shot[exact])
        if other.numel():
            rate = ratio[other] * electrons[other]
            topup = (1 - ratio[other] * kept[other]).clamp_min(0.0)
            safe = torch.where(topup > 0, topup, torch.ones_like(topup))
            counts = poisson_icdf(torch.where(topup > 0, rate / safe, 0.0), shot[other], self.exact_poisson_below)
            detected[other] = torch.where(topup > 0, topup * counts, rate)
        return detected

    def __repr__(self):
        rec = self.instrument
        return (
            f"Reimaging(shape={self.shape}, probe_sigma={rec.probe_sigma:.3g} Å, dose={rec.dose:.3g} e⁻/Å², "
            f"counts={rec.counts})"
        )
