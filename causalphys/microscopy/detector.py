"""The detector mechanism: electron shot noise, gain, offset, read noise and saturation, with explicit noise.

The structural equation of the image node, per pixel ``(i, j)`` of unit ``b``::

    rate  = dose · pixel_area · clean                                   (electrons expected, λ)
    count = F⁻¹_Poisson(λ)(u₀)                                          (shot noise, u₀ ~ U(0, 1))
    image = clamp(gain · count + offset + read_noise · u₁, 0, saturation)   (u₁ ~ N(0, 1))

Shot noise is Poisson with ``λ = pixel area × dose per area × normalised intensity`` (abTEM's ``scan_and_detect``
walkthrough); read-out noise and a linear gain/offset calibration follow Lobato, Friedrich & Van Aert, npj Comput.
Mater. 2023 and pyTEMlib's per-instrument offset/slope calibrations. The counts are drawn by inverting the Poisson
CDF at an explicit uniform ``u₀`` (:func:`~causalphys.microscopy.poisson.poisson_icdf`) rather than by
``torch.poisson``, so the exogenous noise is a tensor the SCM can record: the same ``u`` with the same rate
reproduces the same image, and the same ``u`` with another dose gives the quantile-coupled counterfactual image
("the same frame, at another dose").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from causalphys.errors import MechanismError, ParameterError
from causalphys.microscopy.poisson import check_exact_below, check_poisson_inputs, poisson_counts, poisson_inputs_ok
from causalphys.parallel import for_each_chunk
from causalphys.scm.mechanism import Mechanism
from causalphys.scm.noise import Noise

DETECTOR_ROLES = (
    "clean",  # noiseless fraction of electrons reaching the detector per pixel, (n, H, W), >= 0
    "dose",  # e-/Å², > 0
    "pixel_area",  # Å², > 0
    "gain",  # ADU per electron, > 0
    "offset",  # ADU
    "read_noise",  # ADU rms, >= 0
    "saturation",  # ADU, > offset
)
_CHUNK = 64  # units of a batch computed together (their arrays stay in the CPU cache)
_GPU_CHUNK = 2048  # on a GPU: this many units at a time (the counts do not depend on it)


class DetectorNoise(Noise):
    """The detector's exogenous noise for an image of ``shape = (H, W)``: one tensor ``(n, 2, H, W)`` per draw.

    Channel 0 holds uniforms ``U[0, 1)`` (the shot noise, through
    :func:`~causalphys.microscopy.poisson.poisson_icdf`), channel 1 standard normals
    (the read noise). Both are drawn from the given generator, channel 0 first.
    """

    def __init__(self, shape: int | Sequence[int] = (64, 64)):
        image = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
        if not image or any(s <= 0 for s in image):
            raise ParameterError(f"detector image shape must have positive sizes, got {image}")
        self.shape = (2, *image)

    def sample(self, n, generator, device, dtype):
        # drawn channel by channel into contiguous halves of one buffer (shot noise first, as always) and returned
        # as the (n, 2, H, W) view of it: no copy, and each channel of each unit is still contiguous
        noise = torch.empty((2, n, *self.shape[1:]), device=device, dtype=dtype)
        torch.rand(noise.shape[1:], generator=generator, device=device, dtype=dtype, out=noise[0])
        torch.randn(noise.shape[1:], generator=generator, device=device, dtype=dtype, out=noise[1])
        return noise.transpose(0, 1)

    def __repr__(self):
        return f"DetectorNoise(shape={self.shape[1:]})"


class Detector(Mechanism):
    """The image node: ``image = clamp(gain · F⁻¹_Poisson(dose · pixel_area · clean)(u₀) + offset
    + read_noise · u₁, 0, saturation)`` in ADU, shape ``(n, H, W)``.

    Parents (by role; rename them with ``parents``): ``clean`` ``(n, H, W)``, the noiseless fraction of electrons
    reaching the detector at each pixel (≥ 0); ``dose`` (e⁻/Å², > 0), ``pixel_area`` (Å², > 0), ``gain`` (ADU per
    electron, > 0), ``offset`` (ADU), ``read_noise`` (ADU rms, ≥ 0) and ``saturation`` (ADU, > offset), each one
    value per unit ``(n,)`` or one per pixel ``(n, H, W)`` (a gain map, a dark frame). The noise ``u`` is
    ``(n, 2, H, W)`` (:class:`DetectorNoise`): uniforms for the shot noise, standard normals for the read noise.

    Not invertible (the counts are discrete and the clamp loses information): counterfactuals use the noise
    recorded at sampling, ``scm.sample(..., return_noise=True)``. With the noise removed (``with_noise(None)``)
    the node is the expected signal ``clamp(gain · rate + offset, 0, saturation)``.

    Parameters
    ----------
    shape : the image size ``(H, W)`` in pixels
    exact_below : rates below this use the exact Poisson quantile, the others its Cornish-Fisher approximation
        (see :func:`~causalphys.microscopy.poisson.poisson_icdf`)
    parents : ``{role: node}`` where the graph names a role differently (roles: :data:`DETECTOR_ROLES`)
    """

    def __init__(
        self,
        shape: int | Sequence[int] = (64, 64),
        exact_below: float = 10.0,
        parents: Mapping[str, str] | None = None,
    ):
        self.noise = DetectorNoise(shape)
        self.shape = self.noise.shape[1:]
        self.exact_below = check_exact_below(exact_below)
        parents = dict(parents or {})
        unknown = sorted(set(parents) - set(DETECTOR_ROLES))
        if unknown:
            raise ParameterError(f"unknown detector role(s) {unknown}; roles are {list(DETECTOR_ROLES)}")
        not_names = {role: name for role, name in parents.items() if not isinstance(name, str)}
        if not_names:
            raise ParameterError(f"detector parents must map roles to node names (str), got {not_names}")
        self.parents = {role: parents.get(role, role) for role in DETECTOR_ROLES}

    def parent_names(self):
        return frozenset(self.parents.values())

    def inputs(self, parents: Mapping[str, torch.Tensor], n: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """The parents by role, as ``dtype`` tensors that broadcast against ``(n, H, W)`` (checked: a per-unit value
        ``(n,)`` or a per-pixel one ``(n, H, W)``)."""
        missing = sorted(name for name in self.parents.values() if name not in parents)
        if missing:
            raise MechanismError(f"the detector needs parent(s) {missing}; got {sorted(parents)}")
        image = (n, *self.shape)
        out = {}
        for role, name in self.parents.items():
            x = torch.as_tensor(parents[name]).to(dtype)
            if role == "clean" and tuple(x.shape) != image:
                raise ParameterError(f"clean (node {name!r}) must have shape {image}, got {tuple(x.shape)}")
            if tuple(x.shape) == (n,):
                x = x.view(n, *(1 for _ in self.shape))
            elif tuple(x.shape) != image:
                raise ParameterError(
                    f"{role} (node {name!r}) must have shape ({n},) (one value per unit) or {image} (one per "
                    f"pixel), got {tuple(x.shape)}"
                )
            out[role] = x
        return out

    def _fail(self, role: str, requirement: str, bad: torch.Tensor, shown: dict[str, torch.Tensor]) -> None:
        per_unit = bad.reshape(bad.shape[0], -1).any(1)
        unit = int(per_unit.nonzero()[0])
        at = bad[unit].reshape(-1).nonzero()[0]  # the first offending pixel of that unit (or its one value)
        values = ", ".join(f"{k} {v.expand_as(bad)[unit].reshape(-1)[at].item():g}" for k, v in shown.items())
        raise ParameterError(
            f"{role} (node {self.parents[role]!r}) must be {requirement}; {int(per_unit.sum())} of "
            f"{bad.shape[0]} unit(s) violate it, first unit {unit} ({values})"
        )

    def _check(self, p: Mapping[str, torch.Tensor]) -> None:
        """Raise :class:`ParameterError` naming the first quantity out of its range."""
        lowest = {}
        for role in DETECTOR_ROLES:  # one pass per quantity: min and max are NaN if any value is, ±inf if any value is
            low, high = (float(x) for x in torch.aminmax(p[role]))
            if not (math.isfinite(low) and math.isfinite(high)):
                self._fail(role, "finite", ~torch.isfinite(p[role]), {role: p[role]})
            lowest[role] = low
        for role in ("dose", "pixel_area", "gain"):
            if lowest[role] <= 0:
                self._fail(role, "> 0", p[role] <= 0, {role: p[role]})
        for role in ("clean", "read_noise"):
            if lowest[role] < 0:
                self._fail(role, ">= 0", p[role] < 0, {role: p[role]})
        sat, off = p["saturation"], p["offset"]
        bad = sat <= off
        if bool(bad.any()):
            requirement = f"> offset (node {self.parents['offset']!r})"
            self._fail("saturation", requirement, bad, {"saturation": sat, "offset": off})

    def evaluate(self, parents, u, *, n, device, dtype):
        p = self.inputs(parents, n, dtype)
        self._check(p)
        if u is None:  # the noise intervened away: the expected signal
            rate = p["dose"] * p["pixel_area"] * p["clean"]
            return torch.minimum((p["gain"] * rate + p["offset"]).clamp_min_(0.0), p["saturation"])
        expected = (n, 2, *self.shape)
        if tuple(u.shape) != expected:
            raise ParameterError(f"detector noise must have shape {expected}, got {tuple(u.shape)}")
        shot, read = u[:, 0], bool((p["read_noise"] != 0).any())
        image = torch.empty((n, *self.shape), device=p["clean"].device, dtype=dtype)

        def detect(c: slice) -> None:  # units are independent; a chunk's arrays stay in cache
            rate = p["dose"][c] * p["pixel_area"][c] * p["clean"][c]
            if not poisson_inputs_ok(rate, shot[c]):  # name the first bad element of the whole batch
                check_poisson_inputs(p["dose"] * p["pixel_area"] * p["clean"], shot)
            signal = poisson_counts(rate, shot[c], self.exact_below).mul_(p["gain"][c]).add_(p["offset"][c])
            if read:
                signal.addcmul_(p["read_noise"][c], u[c, 1].to(dtype))
            torch.minimum(signal.clamp_min_(0.0), p["saturation"][c], out=image[c])

        for_each_chunk(detect, n, _CHUNK if image.device.type == "cpu" else _GPU_CHUNK, device=image.device)
        return image

    def __repr__(self):
        renamed = {role: name for role, name in self.parents.items() if role != name}
        extra = f", parents={renamed}" if renamed else ""
        return f"Detector(shape={self.shape}, exact_below={self.exact_below:g}{extra})"
