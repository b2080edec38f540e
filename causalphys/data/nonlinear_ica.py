"""Synthetic nonlinear ICA with nonstationary sources: the data of the iVAE paper (Khemakhem et al. 2020, Sec. 7).

The sources ``s`` ``(n_latents,)`` are independent given the segment ``u``; their scale (and optionally their
mean) changes from segment to segment, which is what makes the mixing identifiable (time-contrastive learning,
Hyvärinen & Morioka 2016; iVAE). For segment ``u`` and latent ``j``::

    s_j = m_uj + sigma_uj · eps_j,   eps_j ~ N(0, 1) or Laplace(0, 1 / sqrt 2) (unit variance), independent
    sigma_uj ~ U(scale_low, scale_high),   m_uj ~ U(-mean_range, mean_range)   (m = 0 when mean_range = 0)

The observations are ``x = f(s)`` with ``f`` a random invertible MLP of ``n_layers`` square layers (row vectors,
as in the paper's code): ``h_0 = s``, ``h_l = lrelu(h_{l-1} W_l)`` for ``l < L`` and ``x = h_{L-1} W_L`` (the last
layer is linear), ``lrelu(a) = max(a, slope · a)``. Each ``W_l`` ``(d, d)`` has entries ``U(-1, 1)`` and columns
scaled to unit norm, and is kept only if its condition number is below the ``condition_quantile`` quantile of
``condition_draws`` such matrices (the paper's code: the 25th percentile of 10,000), so every layer is
well-conditioned and ``f`` is exactly invertible (:meth:`NonlinearICA.unmix`). Unlike the paper's code, which
repeats one matrix in every layer, each layer draws its own.

Defaults are the paper's main setting: 40 segments of 1,000 points, 5 latents, Gaussian sources with scales in
``[0.5, 3]``, centred. The brief of this project fixes the leaky-ReLU slope at 0.2 (the paper's code uses 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.seeding import derive_seed, make_generator

DISTRIBUTIONS = ("gaussian", "laplace")


@dataclass(frozen=True)
class NonlinearICA:
    """A drawn nonlinear ICA problem.

    - ``envs``: segment name (``"segment00"``, ``"segment01"``, ...; in segment order) -> ``(x, s)``, both
      ``(n_per_segment, n_latents)`` float32: the observations and their true sources. This is the shape trainers
      take (the sources play the targets, which an unsupervised learner such as the iVAE ignores).
    - ``means``, ``scales``: ``(n_segments, n_latents)``, the per-segment source parameters ``m`` and ``sigma``.
    - ``weights``: the mixing matrices ``W_1 .. W_L``, each ``(n_latents, n_latents)``; ``slope``: the leaky-ReLU
      slope.
    """

    envs: dict[str, tuple[torch.Tensor, torch.Tensor]]
    means: torch.Tensor
    scales: torch.Tensor
    weights: tuple[torch.Tensor, ...]
    slope: float

    @property
    def x(self) -> torch.Tensor:
        """All observations ``(n_segments · n_per_segment, n_latents)``, segment after segment."""
        return torch.cat([x for x, _ in self.envs.values()])

    @property
    def sources(self) -> torch.Tensor:
        """All true sources, in the rows of :attr:`x`."""
        return torch.cat([s for _, s in self.envs.values()])

    @property
    def segment(self) -> torch.Tensor:
        """The segment index ``(n,)`` (long) of each row of :attr:`x`: the auxiliary variable ``u``."""
        sizes = [len(x) for x, _ in self.envs.values()]
        return torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))

    def mix(self, s: torch.Tensor) -> torch.Tensor:
        """``x = f(s)`` for sources ``s`` ``(n, n_latents)`` (see the module doc)."""
        h = s
        for layer, w in enumerate(self.weights):
            h = h @ w.to(h.dtype)
            if layer < len(self.weights) - 1:
                h = torch.where(h > 0, h, self.slope * h)
        return h

    def unmix(self, x: torch.Tensor) -> torch.Tensor:
        """``s = f^{-1}(x)`` ``(n, n_latents)``: the exact inverse of :meth:`mix`, layer by layer."""
        h = x.to(torch.float64)
        for layer in reversed(range(len(self.weights))):
            if layer < len(self.weights) - 1:
                h = torch.where(h > 0, h, h / self.slope)
            h = torch.linalg.solve(self.weights[layer].to(torch.float64).T, h.T).T
        return h.to(x.dtype)


def _check_float(name: str, value: object, low: float, high: float | None = None, closed: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if ok:
        ok = (value >= low if closed else value > low) and (high is None or value <= high)
    if not ok:
        bound = f"{'>=' if closed else '>'} {low}" + ("" if high is None else f" and <= {high}")
        raise ParameterError(f"nonlinear_ica {name} must be a number {bound}, got {value!r}")
    return float(value)


def mixing_matrix(
    d: int, generator: torch.Generator, condition_quantile: float = 0.25, condition_draws: int = 10_000
) -> torch.Tensor:
    """One well-conditioned ``(d, d)`` float64 matrix: entries ``U(-1, 1)``, columns of unit norm, condition
    number at most the ``condition_quantile`` quantile of ``condition_draws`` candidates (the first candidate that
    qualifies; ``condition_quantile = 1`` keeps the first draw)."""
    candidates = torch.rand(condition_draws, d, d, generator=generator, dtype=torch.float64) * 2 - 1
    candidates = candidates / candidates.norm(dim=1, keepdim=True)
    conditions = torch.linalg.cond(candidates)
    threshold = torch.quantile(conditions, condition_quantile)
    return candidates[int(torch.nonzero(conditions <= threshold)[0, 0])].clone()


def nonlinear_ica(
    n_segments: int = 40,
    n_per_segment: int = 1000,
    n_latents: int = 5,
    n_layers: int = 2,
    seed: int = 0,
    distribution: str = "gaussian",
    scale_low: float = 0.5,
    scale_high: float = 3.0,
    mean_range: float = 0.0,
    slope: float = 0.2,
    condition_quantile: float = 0.25,
    condition_draws: int = 10_000,
) -> NonlinearICA:
    """Draw a nonlinear ICA problem (see the module doc for the model); returns a :class:`NonlinearICA`.

    Randomness: the mixing from ``derive_seed(seed, "nonlinear_ica", "mixing")``, the segment parameters from
    ``(..., "segments")``, the sources of segment ``u`` from ``(..., "sources", u)`` — so the mixing and the
    segment parameters do not depend on ``n_per_segment``, and the same seed gives the same data.
    """
    checks.positive_int("nonlinear_ica n_segments", n_segments)
    checks.positive_int("nonlinear_ica n_per_segment", n_per_segment)
    checks.positive_int("nonlinear_ica n_latents", n_latents)
    checks.positive_int("nonlinear_ica n_layers", n_layers)
    checks.integer("nonlinear_ica seed", seed)
    if distribution not in DISTRIBUTIONS:
        raise ParameterError(f"nonlinear_ica distribution must be one of {list(DISTRIBUTIONS)}, got {distribution!r}")
    _check_float("scale_low", scale_low, 0.0)
    if _check_float("scale_high", scale_high, 0.0) < scale_low:
        raise ParameterError(f"nonlinear_ica scale_high={scale_high!r} must be >= scale_low={scale_low!r}")
    _check_float("mean_range", mean_range, 0.0, closed=True)
    _check_float("slope", slope, 0.0, 1.0)
    _check_float("condition_quantile", condition_quantile, 0.0, 1.0)
    checks.positive_int("nonlinear_ica condition_draws", condition_draws)

    gen = make_generator(derive_seed(seed, "nonlinear_ica", "mixing"))
    weights = tuple(mixing_matrix(n_latents, gen, condition_quantile, condition_draws).float() for _ in range(n_layers))
    gen = make_generator(derive_seed(seed, "nonlinear_ica", "segments"))
    scales = scale_low + (scale_high - scale_low) * torch.rand(n_segments, n_latents, generator=gen)
    means = mean_range * (2 * torch.rand(n_segments, n_latents, generator=gen) - 1)
    mixer = NonlinearICA(envs={}, means=means, scales=scales, weights=weights, slope=float(slope))
    envs = {}
    width = len(str(n_segments - 1))
    for u in range(n_segments):
        gen = make_generator(derive_seed(seed, "nonlinear_ica", "sources", u))
        if distribution == "gaussian":
            eps = torch.randn(n_per_segment, n_latents, generator=gen)
        else:  # Laplace(0, b) with b = 1 / sqrt 2 has unit variance: inverse CDF of a uniform on (-1/2, 1/2)
            v = torch.rand(n_per_segment, n_latents, generator=gen) - 0.5
            eps = -torch.sign(v) * torch.log1p(-(2 * v.abs()).clamp(max=1 - 1e-7)) / 2**0.5
        s = means[u] + scales[u] * eps
        envs[f"segment{u:0{max(2, width)}d}"] = (mixer.mix(s), s)
    return NonlinearICA(envs=envs, means=means, scales=scales, weights=weights, slope=float(slope))
