"""The default benchmark, "scanner shift": two training labs, a test lab whose routing reverses the
scanner-label association, and a lab with held-out scanners (see :mod:`causalphys.microscopy.lab`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources

import torch

from causalphys.errors import ParameterError
from causalphys.microscopy.lab import Lab, confounded_lab
from causalphys.microscopy.scanners import DEFAULT_SCANNERS, ScannerPreset
from causalphys.scm import catalog as mech
from causalphys.scm import noise as nz
from causalphys.scm.environments import Environments

LAB_KEYS = ("scanners", "consistency", "mains_frequency", "role")


def load_labs(name: str = "scanner_shift") -> dict[str, dict]:
    """The lab table shipped with the package (``causalphys/presets/labs/<name>.yaml``, the file Hydra composes as
    ``benchmark.labs``): ``{lab: {scanners: [preset for label 0, for label 1], consistency, mains_frequency,
    role}}``, in order. Read without Hydra, so it works from an installed package."""
    from omegaconf import OmegaConf

    folder = resources.files("causalphys.presets").joinpath("labs")
    file = folder.joinpath(f"{name}.yaml")
    if not file.is_file():
        known = sorted(f.name.removesuffix(".yaml") for f in folder.iterdir() if f.name.endswith(".yaml"))
        raise ParameterError(f"no lab table labs/{name}.yaml in causalphys/presets; known lab tables: {known}")
    return OmegaConf.to_container(OmegaConf.create(file.read_text(encoding="utf-8")), resolve=True)


def lab_objects(labs: Mapping[str, Mapping], scanners: Sequence[str], key: str = "labs") -> list[Lab]:
    """The :class:`~causalphys.microscopy.lab.Lab` of each entry of a lab table (:func:`load_labs`), its scanners'
    names turned into their positions in ``scanners`` (the ``scanner`` node's values). Errors name ``key.<lab>``."""
    out = []
    for lab, spec in labs.items():
        unknown = sorted(set(spec) - set(LAB_KEYS))
        if unknown:
            raise ParameterError(f"{key}.{lab}: unknown key(s) {unknown}; allowed: {', '.join(LAB_KEYS)}")
        pair = spec.get("scanners", ())
        if isinstance(pair, str) or len(pair) != 2:
            raise ParameterError(f"{key}.{lab}.scanners must name two scanner presets, got {pair!r}")
        bad = [s for s in pair if s not in scanners]
        if bad:
            raise ParameterError(f"{key}.{lab}.scanners: unknown scanner(s) {bad}; configured: {list(scanners)}")
        try:
            out.append(
                Lab(
                    lab,
                    scanners=tuple(scanners.index(s) for s in pair),
                    consistency=spec.get("consistency", 0.5),
                    mains_frequency=spec.get("mains_frequency", 50.0),
                )
            )
        except ParameterError as err:
            raise ParameterError(f"{key}.{lab}: {err}") from err
    return out


DEFAULT_LABS = tuple(lab_objects(load_labs(), DEFAULT_SCANNERS))
"""The scanner-shift labs (:func:`load_labs`) with the scanners of ``load_scanners()``: 0 corrected_200kv,
1 low_dose, 2 uncorrected_200kv, 3 drifty_older."""


def unconfounded_scanner(labs: Sequence[Lab]) -> mech.Function:
    """The scanner mechanism with the ``label -> scanner`` edge cut: each lab picks either of its scanners at
    random, whatever the sample's designation (the oracle's data)."""
    table = [list(lab.scanners) for lab in labs]

    def pick(lab, u):
        choices = torch.tensor(table, dtype=u.dtype, device=u.device)[lab.long()]
        return choices.gather(1, (u >= 0.5).long().view(-1, 1)).squeeze(1)

    return mech.Function(pick, noise=nz.Uniform())


def scanner_shift(
    scanners: Sequence[ScannerPreset], labs: Sequence[Lab] = DEFAULT_LABS, oracle: bool = False, **lab_options
) -> Environments:
    """``Environments`` named after the labs (``do(lab := i)``). With ``oracle=True`` the scanner no longer
    depends on the label in any lab (the spurious path is cut); ``lab_options`` go to :func:`confounded_lab`."""
    scm = confounded_lab(scanners, labs, **lab_options)
    if oracle:
        scm = scm.intervene(scanner=unconfounded_scanner(labs))
    return Environments(scm, {lab.name: {"lab": float(i)} for i, lab in enumerate(labs)})
