"""The confounded lab: an SCM in which the lab, not the sample, decides what the instrument looks like.

Causal story (all of it a graph of causalphys mechanisms, every latent a node)::

    lab ──► label ──► phase / vacancy_fraction ──► clean ──► image
     │        │                                    ▲          ▲
     │        └──► scanner ──► instrument parameters ┘ (dose, gain, ...)
     └──────────────────────► mains_frequency ───────┘

- ``label`` is the sample's designation (what the lab recorded it as: perovskite or hexagonal, or defective or
  not). The lab specialises in some materials (``label_prior``).
- The synthesis realises the designation with probability ``1 - label_noise``: ``phase = label`` flipped with
  probability ``label_noise`` (for the ``defect`` and ``strain`` tasks the designation sets the vacancy fraction
  or the strain the same way).
  The structure in the image therefore predicts the label at best ``1 - label_noise`` of the time.
- The lab routes samples to its two scanners by designation: beam-sensitive (label 1) samples go to the lab's
  label-1 scanner (e.g. the low-dose set-up) with probability ``consistency`` — its operator lowers the dose for
  them — the others to the label-0 scanner. ``consistency`` is the confounding strength of the lab; a lab with
  ``consistency = 0.1`` reverses the scanner-label association.
- The lab's power grid sets the mains frequency (50 or 60 Hz) that the scan picks up.

So, exactly as colour does in Colored MNIST (Arjovsky et al. 2019), the instrument signature predicts the label
better than the structure in labs with high consistency, and the opposite way in a lab that routes the other way.
Environments are interventions on ``lab``; the oracle data cut the ``label -> scanner`` edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.microscopy.detector import Detector
from causalphys.microscopy.imaging import ImageFormation
from causalphys.microscopy.scanners import PARAMETERS, PresetParameter, ScannerPreset
from causalphys.scm import catalog as mech
from causalphys.scm import noise as nz
from causalphys.scm.graph import CausalGraph
from causalphys.scm.mechanism import Mechanism
from causalphys.scm.model import SCM

LAB_TASKS = ("phase", "defect", "strain")
DETECTOR_PARAMETERS = ("dose", "gain", "offset", "read_noise", "saturation")
"""The scanner-preset parameters the detector reads; the rest (:data:`SCAN_PARAMETERS`) form the image."""
SCAN_PARAMETERS = tuple(p for p in PARAMETERS if p not in DETECTOR_PARAMETERS)


@dataclass(frozen=True)
class Lab:
    """A lab: the scanners (indices into the presets) it uses for label-0 and label-1 samples, how consistently
    it routes by label, its mains frequency and its label prior."""

    name: str
    scanners: tuple[int, int]
    consistency: float
    mains_frequency: float = 50.0
    label_prior: float = 0.5

    def __post_init__(self):
        checks.probability(f"lab {self.name!r}: consistency", self.consistency)
        checks.probability(f"lab {self.name!r}: label_prior", self.label_prior)
        checks.positive_float(f"lab {self.name!r}: mains_frequency", self.mains_frequency)


def _table(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def _lab_index(lab: torch.Tensor, n_labs: int) -> torch.Tensor:
    index = lab.long()
    if bool(((index < 0) | (index >= n_labs)).any()):
        raise ParameterError(f"lab must be an index in 0..{n_labs - 1}, got {lab.unique().tolist()}")
    return index


def detection_edges() -> list[tuple[str, str]]:
    """The edges of detection: the pixel's area from its calibration, and the image from the clean signal, the
    pixel area and the detector's parameters."""
    edges = [("pixel_size", "pixel_area"), ("scale_error_x", "pixel_area"), ("scale_error_y", "pixel_area")]
    return edges + [(p, "image") for p in ("clean", "pixel_area", *DETECTOR_PARAMETERS)]


def pixel_area() -> mech.Additive:
    """``pixel_area = Δx² / ((1 + s_x)(1 + s_y))`` (Å²): the sample area a pixel really covers under scale errors."""
    return mech.Additive(
        lambda pixel_size, scale_error_x, scale_error_y: pixel_size**2 / ((1 + scale_error_x) * (1 + scale_error_y))
    )


def specimen_ranges(rotation: Sequence[float], strain_std: float) -> tuple[float, float]:
    """Check a specimen's in-plane rotation range (rad) and strain spread; returns ``(low, high)`` of the rotation."""
    low_r, high_r = (float(r) for r in rotation)
    if not (math.isfinite(low_r) and math.isfinite(high_r) and low_r <= high_r):
        raise ParameterError(f"rotation must be a range [low, high] of angles (rad), got {list(rotation)}")
    if strain_std < 0:
        raise ParameterError(f"strain_std must be >= 0, got {strain_std}")
    return low_r, high_r


def confounded_lab(
    scanners: Sequence[ScannerPreset],
    labs: Sequence[Lab],
    task: str = "phase",
    label_noise: float = 0.25,
    image_shape: tuple[int, int] = (64, 64),
    lattice_constants: Sequence[float] = (3.905, 3.16),
    lattice_spread: float = 0.03,
    strain_std: float = 0.005,
    vacancy_fraction: tuple[float, float] = (0.0, 0.02),
    defect_fraction: tuple[float, float] = (0.08, 0.15),
    designed_strain: float = 0.015,
    rotation: tuple[float, float] = (0.0, 2 * math.pi),
    background: tuple[float, float] = (0.002, 0.02),
    exact_poisson_below: float = 10.0,
) -> SCM:
    """Build the confounded-lab SCM (module docstring). Node ``image`` is the recorded ADF image ``(n, H, W)`` in
    ADU; ``label`` is the target; every sample and instrument latent is a node of its own.

    ``task="phase"``: label = designated phase (0 perovskite, 1 hexagonal); ``task="defect"``: label = designated
    defective (vacancy fraction in ``defect_fraction`` instead of ``vacancy_fraction``), phase drawn at random;
    ``task="strain"``: label = designated strained film (``strain_xx`` centred on ``designed_strain`` instead of 0,
    realised with probability ``1 - label_noise``), the regression target is the node ``strain_xx``.
    Each phase has its own lattice constant (SrTiO3 3.905 Å, MoS2 3.16 Å by default), varied by
    ``± lattice_spread``; each strain component is ``N(0, strain_std²)``. The crystal's in-plane rotation is
    ``U(rotation[0], rotation[1])`` rad: any orientation by default; a narrow range is a specimen aligned to the scan
    (a film imaged with the scan along its interface), which is what makes the strain components, not only their
    invariants, identifiable (a 90° turn of the square lattice swaps ``strain_xx`` and ``strain_yy``).
    """
    scanners, labs = tuple(scanners), tuple(labs)
    _check_lab_settings(scanners, labs, task, label_noise, lattice_constants, lattice_spread)
    rotation = specimen_ranges(rotation, strain_std)
    mechanisms = {
        **_routing_mechanisms(labs),
        **_specimen_mechanisms(lattice_constants, lattice_spread, strain_std, rotation, background),
        **_designated_mechanisms(task, label_noise, vacancy_fraction, defect_fraction, designed_strain, strain_std),
        **_instrument_mechanisms(scanners, image_shape, exact_poisson_below),
    }
    return SCM(lab_graph(task), mechanisms)


def _check_lab_settings(
    scanners: tuple[ScannerPreset, ...],
    labs: tuple[Lab, ...],
    task: str,
    label_noise: float,
    lattice_constants: Sequence[float],
    lattice_spread: float,
) -> None:
    """Raise :class:`ParameterError` naming the first bad setting of :func:`confounded_lab`: an unknown task, a
    label noise outside [0, 0.5], no lab, a lab's scanner index outside the presets, or lattice constants that are
    not one positive value per phase (with a spread in [0, 1))."""
    if task not in LAB_TASKS:
        raise ParameterError(f"task must be one of {list(LAB_TASKS)}, got {task!r}")
    if not 0.0 <= label_noise <= 0.5:
        raise ParameterError(f"label_noise must lie in [0, 0.5], got {label_noise}")
    if not labs:
        raise ParameterError("confounded_lab needs at least one lab")
    for lab in labs:
        bad = [s for s in lab.scanners if not 0 <= s < len(scanners)]
        if bad:
            raise ParameterError(f"lab {lab.name!r} uses scanner index {bad}, but there are {len(scanners)} presets")
    _check_lattice(lattice_constants, lattice_spread)


def _check_lattice(lattice_constants: Sequence[float], lattice_spread: float) -> None:
    if len(lattice_constants) != 2 or min(lattice_constants) <= 0 or not 0 <= lattice_spread < 1:
        raise ParameterError(
            f"lattice_constants must give one positive value (Å) per phase, got {list(lattice_constants)}, and "
            f"lattice_spread must lie in [0, 1), got {lattice_spread}"
        )


def check_specimen(
    lattice_constants: Sequence[float] = (3.905, 3.16),
    lattice_spread: float = 0.03,
    strain_std: float = 0.005,
    rotation: tuple[float, float] = (0.0, 2 * math.pi),
    vacancy_fraction: tuple[float, float] = (0.0, 0.02),
    background: tuple[float, float] = (0.002, 0.02),
) -> None:
    """Raise :class:`ParameterError` naming the first bad specimen option of :func:`confounded_lab` (its defaults
    here), without building the SCM: the same checks and the same mechanism constructors its specimen nodes go
    through."""
    _check_lattice(lattice_constants, lattice_spread)
    rotation = specimen_ranges(rotation, strain_std)
    _specimen_mechanisms(lattice_constants, lattice_spread, strain_std, rotation, background)
    _designated_mechanisms("phase", 0.0, vacancy_fraction, (0.08, 0.15), 0.015, strain_std)


_SAMPLE_NODES = (
    "lattice_constant",
    "rotation",
    "strain_xx",
    "strain_yy",
    "strain_xy",
    "background",
    "phase",
    "vacancy_fraction",
)


def lab_graph(task: str) -> CausalGraph:
    """The graph of the module docstring, with its roles: ``lab → label → (the task's target)``,
    ``lab, label → scanner → (every preset parameter)``, ``lab → mains_frequency``, ``phase → lattice_constant``,
    the sample latents and the scan's parameters → ``clean``, and :func:`detection_edges` to ``image``."""
    target_of_label = {"phase": "phase", "defect": "vacancy_fraction", "strain": "strain_xx"}[task]
    sample_edges = [("label", target_of_label), ("phase", "lattice_constant")]
    edges = [("lab", "label"), ("lab", "scanner"), ("label", "scanner"), ("lab", "mains_frequency"), *sample_edges]
    edges += [("scanner", p) for p in PARAMETERS]
    image_parents = [*_SAMPLE_NODES, *SCAN_PARAMETERS, "drift_angle", "mains_frequency"]
    edges += [(p, "clean") for p in image_parents]
    edges += detection_edges()
    roles = {
        "lab": "confounder",
        "label": "label",
        "scanner": "instrument",
        "mains_frequency": "instrument",
        "drift_angle": "instrument",
    }
    roles.update({p: "instrument" for p in PARAMETERS})
    roles.update({p: "sample" for p in _SAMPLE_NODES})
    return CausalGraph(edges, nodes=["drift_angle"], roles=roles)


def _routing_mechanisms(labs: tuple[Lab, ...]) -> dict[str, Mechanism]:
    """The labs' side of the SCM, from the table ``labs``: ``lab`` uniform over the labs (the constant 0 for one
    lab); ``label = 1[u < label_prior[lab]]``; ``scanner = scanners[lab][label]`` if ``u < consistency[lab]``, else
    ``scanners[lab][1 - label]``; ``mains_frequency = mains_frequency[lab]`` (``u ~ U[0, 1)``, each ``(n,)``)."""
    n_labs = len(labs)

    def label_of(lab, u):
        return (u < _table([x.label_prior for x in labs], u)[_lab_index(lab, n_labs)]).to(u.dtype)

    def scanner_of(lab, label, u):
        i = _lab_index(lab, n_labs)
        table = _table([x.scanners for x in labs], u)[i]  # (n, 2): scanner for label 0, for label 1
        consistent = u < _table([x.consistency for x in labs], u)[i]
        routed = torch.where(consistent, label, 1 - label).long()
        return table.gather(1, routed.view(-1, 1)).squeeze(1)

    def mains_of(lab):
        return _table([x.mains_frequency for x in labs], lab)[_lab_index(lab, n_labs)]

    return {
        "lab": mech.Categorical([1.0 / n_labs] * n_labs) if n_labs > 1 else mech.Constant(0.0),
        "label": mech.Function(label_of, noise=nz.Uniform()),
        "scanner": mech.Function(scanner_of, noise=nz.Uniform()),
        "mains_frequency": mech.Additive(mains_of),
    }


def _specimen_mechanisms(
    lattice_constants: Sequence[float],
    lattice_spread: float,
    strain_std: float,
    rotation: tuple[float, float],
    background: tuple[float, float],
) -> dict[str, Mechanism]:
    """The specimen's latents that no designation sets: ``lattice_constant = a[phase] · (1 + lattice_spread
    (2u − 1))`` (composition, doping), ``rotation ~ U(rotation)`` rad (a constant for an empty range),
    ``strain_yy, strain_xy ~ N(0, strain_std²)`` and the ``background`` level ``~ U(background)``."""
    low_r, high_r = rotation

    def lattice_of(phase, u):  # each phase has its own lattice constant, ± lattice_spread (composition, doping)
        nominal = _table(list(lattice_constants), u)[phase.long()]
        return nominal * (1 + lattice_spread * (2 * u - 1))

    return {
        "lattice_constant": mech.Function(lattice_of, noise=nz.Uniform()),
        "rotation": mech.Uniform(low_r, high_r) if high_r > low_r else mech.Constant(low_r),
        "strain_yy": mech.Normal(0.0, strain_std),
        "strain_xy": mech.Normal(0.0, strain_std),
        "background": mech.Uniform(*background),
    }


def _designated_mechanisms(
    task: str,
    label_noise: float,
    vacancy_fraction: tuple[float, float],
    defect_fraction: tuple[float, float],
    designed_strain: float,
    strain_std: float,
) -> dict[str, Mechanism]:
    """``phase``, ``vacancy_fraction`` and ``strain_xx``: the task's target realises the designation ``label`` with
    probability ``1 - label_noise`` (``realised = label``, flipped where ``u₀ < label_noise``), the other two are
    drawn without it. ``phase`` task: ``phase = realised``; ``defect``: ``vacancy_fraction ~ U(defect_fraction)`` if
    realised, else ``U(vacancy_fraction)``; ``strain``: ``strain_xx = designed_strain · realised + strain_std ·
    Φ⁻¹(u₁)``. Not the target: ``phase ~ Bernoulli(1/2)``, ``vacancy_fraction ~ U(vacancy_fraction)``,
    ``strain_xx ~ N(0, strain_std²)``."""
    low_v, high_v = vacancy_fraction
    low_d, high_d = defect_fraction

    def realise(label, u):  # the synthesis realises the designation with probability 1 - label_noise
        return torch.where(u < label_noise, 1 - label, label)

    def vacancies_of(label, u):
        defective = realise(label, u[:, 0])
        return torch.where(defective > 0.5, low_d + (high_d - low_d) * u[:, 1], low_v + (high_v - low_v) * u[:, 1])

    def strain_of(label, u):
        strained = realise(label, u[:, 0])
        z = torch.special.ndtri(u[:, 1].clamp(1e-7, 1 - 1e-7))
        return designed_strain * strained + strain_std * z

    if task == "defect":
        vacancies = mech.Function(vacancies_of, noise=nz.Uniform(shape=2))
    else:
        vacancies = mech.Uniform(low_v, high_v) if high_v > low_v else mech.Constant(low_v)
    return {
        "phase": mech.Function(realise, noise=nz.Uniform()) if task == "phase" else mech.Bernoulli(0.5),
        "vacancy_fraction": vacancies,
        "strain_xx": mech.Function(strain_of, noise=nz.Uniform(shape=2))
        if task == "strain"
        else mech.Normal(0.0, strain_std),
    }


def _instrument_mechanisms(
    scanners: tuple[ScannerPreset, ...], image_shape: tuple[int, int], exact_poisson_below: float
) -> dict[str, Mechanism]:
    """The instrument and the imaging: every preset parameter of the routed ``scanner``
    (:class:`~causalphys.microscopy.scanners.PresetParameter`), the drift direction ``~ U(0, 2π)``, the
    :func:`pixel_area`, the noiseless image ``clean`` (:class:`ImageFormation`) and the recorded ``image``
    (:class:`Detector`), both ``image_shape``."""
    return {
        "drift_angle": mech.Uniform(0.0, 2 * math.pi),
        **{p: PresetParameter(p, scanners) for p in PARAMETERS},
        "pixel_area": pixel_area(),
        "clean": ImageFormation(shape=image_shape),
        "image": Detector(shape=image_shape, exact_below=exact_poisson_below),
    }
