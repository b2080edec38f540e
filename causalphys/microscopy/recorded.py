"""A recorded image as the root of an SCM: re-imaging it as a worse instrument would have recorded it.

The graph is ``recorded ──► image ◄── instrument nodes``:

- ``recorded`` (role "sample") is the specimen as the recording shows it: a stored stack ``(N, h, w)`` (tiles or
  frames) from which each unit draws one image by an index, ``i = ⌊N u⌋`` with its own uniform ``u``
  (:class:`RecordedStack`); ``scm.do(recorded=tiles)`` with an ``(n, h, w)`` tensor re-images exactly those images.
- the instrument nodes (role "instrument", names as in :data:`~causalphys.microscopy.scanners.PARAMETERS`) are
  constants whose defaults are the recording's own instrument (:class:`RecordedInstrument`): the observational
  SCM gives back the recording exactly, and an intervention asks for another instrument.
- ``image`` (:class:`~causalphys.microscopy.redetection.Reimaging`) is the recording re-imaged: a broader probe, a
  distorted scan, a lower dose, another detector.

What the recording does not hold is refused: a probe narrower than the recorded resolution, a dose above the
recorded one. Units: Å, seconds, e⁻/Å²; detector values in the recording's units (ADU).

The recorded instrument, when not given, is estimated from the stack (:meth:`RecordedInstrument.from_images`):

- resolution: the median width ``σ`` of 2-D Gaussian fits to the bright atomic columns
  (:func:`~causalphys.microscopy.analysis.column_widths`), which is the probe's width and the columns' own in
  quadrature — the resolution as recorded, so that a request of ``σ_req`` gives columns of width ``σ_req``;
- electrons: with ``counts=True`` the stack holds detected electrons (black level 0, one count per electron);
  otherwise ``electrons = (x − black_level) / gain``, with the black level (the reading with no electrons) given or
  the stack's minimum (an upper bound of it: a field without vacuum shows no lower reading), and the gain given by
  the noise: Poisson statistics make the noise variance ``v = gain · mean(x − black)`` (``v`` from
  :func:`~causalphys.microscopy.analysis.noise_variance`, the median of the stack's images);
- dose: ``mean electrons per pixel = dose · Δx² · f̄`` with ``f̄`` (``mean_fraction``) the mean fraction of the beam
  that the detector collects (0.05 by default: a few percent for annular dark field). An estimated dose is the
  recording's noise-equivalent dose: the dose whose Poisson noise the recording shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.microscopy.analysis import column_widths, noise_variance, signal_cutoff
from causalphys.microscopy.redetection import INSTRUMENT_NODES, Reimaging
from causalphys.scm import noise as nz
from causalphys.scm.graph import CausalGraph
from causalphys.scm.mechanism import Mechanism
from causalphys.scm.model import SCM
from causalphys.scm.roots import Constant

SOURCES = ("given", "estimated")


def as_stack(images) -> torch.Tensor:
    """``images`` as a floating-point stack ``(N, h, w)`` (a single ``(h, w)`` image is a stack of one)."""
    given = torch.as_tensor(images)
    stack = given if given.is_floating_point() else given.to(torch.float64)
    stack = stack.unsqueeze(0) if stack.dim() == 2 else stack
    if stack.dim() != 3 or min(stack.shape) < 1 or min(stack.shape[1:]) < 8:
        raise ParameterError(f"recorded images must be (h, w) or (N, h, w) with h, w >= 8, got {tuple(given.shape)}")
    if not bool(torch.isfinite(stack).all()):
        raise ParameterError("recorded images must be finite (no NaN or inf pixels)")
    return stack


class RecordedStack(Mechanism):
    """``recorded = stack[⌊N u⌋]``, ``u ~ U(0, 1)``: each unit is one image of the stored stack ``(N, h, w)``.

    The node's shape is ``(h, w)``; the values come out exactly as stored (in the sampling dtype). Every image is
    drawn with probability ``1 / N``; with ``N = 1`` every unit is the one recorded image.
    """

    def __init__(self, images):
        self.images = as_stack(images)
        self.noise = nz.Uniform()
        self.shape = tuple(self.images.shape[1:])

    def evaluate(self, parents, u, *, n, device, dtype):
        if u is None:
            raise ParameterError(
                "the recorded stack draws each unit's image by an index from its noise; keep its noise, or give "
                "the images with do(recorded=...)"
            )
        index = (u.to(torch.float64) * len(self.images)).long().clamp_(0, len(self.images) - 1)
        return self.images.to(device)[index].to(dtype)

    def __repr__(self):
        return f"RecordedStack({tuple(self.images.shape)})"


@dataclass(frozen=True)
class RecordedInstrument:
    """How a stack was recorded: what the ``image`` node needs, and the instrument nodes' defaults.

        ``pixel_size`` (Å, the calibrated step), ``probe_sigma`` (Å, the recorded resolution: a requested probe of
        width ``σ_req`` adds ``√(σ_req² − σ²)``), ``dose`` (e⁻/Å²), ``counts`` (the stack holds detected electrons),
        ``black_level`` (the reading with no electrons) and ``gain`` (reading per electron): the recorded electrons are
        ``(x − black_level) / gain``. ``saturation`` is the detector's ceiling (a 16-bit read-out's by default;
    :meth:`from_images` takes the stack's maximum), and
        ``dwell_time``, ``flyback_time`` (s) and ``mains_frequency`` (Hz) the scan's timing, which matters only when
        drift or mains pick-up is asked for. ``dose_source`` and ``resolution_source`` say whether a value was given
        or estimated (module docstring).
    """

    pixel_size: float
    probe_sigma: float
    dose: float
    gain: float = 1.0
    black_level: float = 0.0
    saturation: float = 65535.0
    counts: bool = False
    dwell_time: float = 1e-5
    flyback_time: float = 5e-5
    mains_frequency: float = 50.0
    dose_source: str = "given"
    resolution_source: str = "given"

    def __post_init__(self):
        for name in ("pixel_size", "probe_sigma", "dose", "gain", "dwell_time"):
            checks.positive_float(f"RecordedInstrument.{name}", getattr(self, name))
        for name in ("flyback_time", "mains_frequency"):
            checks.nonnegative_float(f"RecordedInstrument.{name}", getattr(self, name))
        checks.finite_float("RecordedInstrument.black_level", self.black_level)
        if not (math.isfinite(self.saturation) and self.saturation > self.black_level):
            raise ParameterError(
                f"RecordedInstrument.saturation must be finite and above black_level {self.black_level:g}, got "
                f"{self.saturation!r}"
            )
        for name in ("dose_source", "resolution_source"):
            if getattr(self, name) not in SOURCES:
                raise ParameterError(
                    f"RecordedInstrument.{name} must be one of {list(SOURCES)}, got {getattr(self, name)!r}"
                )
        if self.counts and (self.black_level != 0 or self.gain != 1):
            raise ParameterError(
                "a stack of counts (counts=True) has black_level 0 and gain 1 (one count per electron)"
            )

    @property
    def defaults(self) -> dict[str, float]:
        """``{node: value}``: the instrument nodes at the recording's own values (no added distortion or noise)."""
        recorded = {
            "probe_sigma": self.probe_sigma,
            "dose": self.dose,
            "dwell_time": self.dwell_time,
            "flyback_time": self.flyback_time,
            "mains_frequency": self.mains_frequency,
            "gain": self.gain,
            "offset": self.black_level,
            "saturation": self.saturation,
        }
        return {node: float(recorded.get(node, 0.0)) for node in INSTRUMENT_NODES}

    def describe(self) -> str:
        """One line: the recorded instrument in physical units."""
        return (
            f"Δx {self.pixel_size:.4g} Å, probe σ {self.probe_sigma:.3g} Å ({self.resolution_source}), dose "
            f"{self.dose:.3g} e⁻/Å² ({self.dose_source}), gain {self.gain:.3g} per e⁻, black level {self.black_level:g}"
        )

    @classmethod
    def from_images(
        cls,
        images,
        pixel_size: float,
        *,
        probe_sigma: float | None = None,
        dose: float | None = None,
        counts: bool = False,
        black_level: float | None = None,
        gain: float | None = None,
        mean_fraction: float = 0.05,
        saturation: float | None = None,
        column_radius: float = 0.8,
        dwell_time: float = 1e-5,
        flyback_time: float = 5e-5,
        mains_frequency: float = 50.0,
    ) -> RecordedInstrument:
        """The recorded instrument of ``images`` ``(N, h, w)`` or ``(h, w)``, estimating what is not given (module
        docstring); ``column_radius`` (Å) is the radius of the column fits. At most the first 8 images are
        measured."""
        stack = as_stack(images).to(torch.float64)
        if not (0 < mean_fraction <= 1):
            raise ParameterError(f"mean_fraction must lie in (0, 1], got {mean_fraction}")
        sample = stack[:8]
        resolution_source = "given" if probe_sigma is not None else "estimated"
        if probe_sigma is None:
            widths = torch.cat(
                [torch.as_tensor(column_widths(x, pixel_size, radius=column_radius).sigma) for x in sample]
            )
            if widths.numel() < 3:
                raise ParameterError(
                    f"cannot estimate the recorded resolution: {widths.numel()} atomic column(s) fitted (radius "
                    f"{column_radius} Å); give probe_sigma (Å)"
                )
            probe_sigma = float(widths.median())
        if counts:
            if black_level not in (None, 0) or gain not in (None, 1):
                raise ParameterError("with counts=True the stack holds electrons: black_level 0 and gain 1")
            if not bool((stack == stack.round()).all() and (stack >= 0).all()):
                raise ParameterError("with counts=True the stack must hold whole numbers of electrons (>= 0)")
            black_level, gain = 0.0, 1.0
        black_level = float(stack.min()) if black_level is None else float(black_level)
        signal = float((sample - black_level).mean())
        if signal <= 0:
            raise ParameterError(f"the recording's mean signal above black_level {black_level:g} must be > 0")
        area = pixel_size**2
        dose_source = "given" if dose is not None else "estimated"
        if gain is None:
            if dose is not None:  # mean electrons per pixel = dose · Δx² · f̄
                gain = signal / (dose * area * mean_fraction)
            else:  # Poisson: noise variance = gain · mean signal
                cutoff = signal_cutoff(probe_sigma, pixel_size)
                gain = float(torch.tensor([noise_variance(x, cutoff) for x in sample]).median()) / signal
        if dose is None:
            dose = signal / gain / (area * mean_fraction)
        return cls(
            pixel_size=float(pixel_size),
            probe_sigma=float(probe_sigma),
            dose=float(dose),
            gain=float(gain),
            black_level=black_level,
            saturation=float(stack.max()) if saturation is None else float(saturation),
            counts=bool(counts),
            dose_source=dose_source,
            resolution_source=resolution_source,
            dwell_time=float(dwell_time),
            flyback_time=float(flyback_time),
            mains_frequency=float(mains_frequency),
        )


def recorded_scm(
    images,
    instrument: RecordedInstrument | None = None,
    *,
    pixel_size: float | None = None,
    exact_poisson_below: float = 10.0,
    **settings,
) -> SCM:
    """The SCM whose root is the recorded stack ``images`` (module docstring).

    Give the recorded ``instrument``, or ``pixel_size`` (Å) and the settings of
    :meth:`RecordedInstrument.from_images` to estimate it. Nodes: ``recorded`` ``(n, h, w)``, the instrument nodes
    :data:`~causalphys.microscopy.redetection.INSTRUMENT_NODES` ``(n,)`` and ``image`` ``(n, h, w)``.
    """
    stack = as_stack(images)
    if instrument is None:
        if pixel_size is None:
            raise ParameterError("recorded_scm needs the recorded instrument, or pixel_size (Å) to estimate it")
        instrument = RecordedInstrument.from_images(stack, pixel_size, **settings)
    elif pixel_size is not None or settings:
        raise ParameterError("give either instrument or pixel_size and settings to estimate it, not both")
    edges = [("recorded", "image"), *((node, "image") for node in INSTRUMENT_NODES)]
    roles = {"recorded": "sample", **{node: "instrument" for node in INSTRUMENT_NODES}}
    mechanisms: dict[str, Mechanism] = {
        "recorded": RecordedStack(stack),
        **{node: Constant(value) for node, value in instrument.defaults.items()},
        "image": Reimaging(tuple(stack.shape[1:]), instrument, exact_poisson_below=exact_poisson_below),
    }
    return SCM(CausalGraph(edges, roles=roles), mechanisms)


def instrument_of(scm: SCM) -> RecordedInstrument:
    """The recorded instrument of an SCM built by :func:`recorded_scm`."""
    mech = scm.mechanisms.get("image") if "image" in scm.nodes else None
    if not isinstance(mech, Reimaging):
        raise ParameterError("instrument_of needs an SCM built by recorded_scm (its node 'image' re-images)")
    return mech.instrument
