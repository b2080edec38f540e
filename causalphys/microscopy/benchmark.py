"""The default benchmark, "scanner shift": two training labs, a test lab whose routing reverses the
scanner-label association, and a lab with held-out scanners (see :mod:`causalphys.microscopy.lab`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from causalphys.microscopy.lab import Lab, confounded_lab
from causalphys.microscopy.scanners import ScannerPreset
from causalphys.scm import catalog as mech
from causalphys.scm import noise as nz
from causalphys.scm.environments import Environments

DEFAULT_LABS = (
    Lab("train_a", scanners=(0, 1), consistency=0.9, mains_frequency=50.0),
    Lab("train_b", scanners=(0, 1), consistency=0.8, mains_frequency=50.0),
    Lab("test", scanners=(0, 1), consistency=0.1, mains_frequency=60.0),
    Lab("heldout_scanners", scanners=(2, 3), consistency=0.5, mains_frequency=50.0),
)
"""Scanner indices refer to ``load_scanners()``: 0 corrected_200kv, 1 low_dose, 2 uncorrected_200kv, 3 drifty_older."""


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
