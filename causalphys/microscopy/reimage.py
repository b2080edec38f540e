"""Re-imaging: the same specimens in a new imaging session, under another scanner.

A counterfactual with all the units' noise kept (``scm.counterfactual(batch, {"scanner": s})``) answers "what would
*this very frame* have looked like on scanner ``s``": the shot-noise uniforms, the line jitter and the quantiles
of the instrument parameters are shared between the two images. That is right for counterfactual model selection,
but two views that share their pixel noise are a poor teacher for a learner that should keep only what the
specimen contributes: the noise pattern is itself shared, so it looks like content. A *new session* keeps the
specimen's noise and redraws the session's:

- kept (the specimen): every sample node's noise, and in the image-formation noise the crystal's offset, its
  vacancies and its thickness/contamination pattern;
- redrawn (the session): the noise of every instrument node (probe, scan and detector settings), the detector's
  shot and read noise (a recorded image's re-imaging node: its scan noise and the shot noise it adds), and in the
  image-formation noise the per-line jitter and the mains phase.

Where an image formation reads its noise from a ``placement`` node (:func:`~causalphys.microscopy.column_lab.
column_lab`: the image and the column map share it), that node is a sample root, upstream of any scanner, so a
counterfactual would keep its value: :func:`reimage` sets it to the unit's own placement with the session blocks
redrawn (``do(placement := ...)``), so the image and its map move together in the new session.

Only what lies downstream of the intervention is recomputed, so instrument nodes that no scanner setting causes
(the drift direction, the lab's mains frequency) keep their values.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from causalphys.errors import ParameterError
from causalphys.microscopy.detector import Detector
from causalphys.microscopy.imaging import ImageFormation
from causalphys.microscopy.redetection import Reimaging
from causalphys.scm.model import SCM
from causalphys.seeding import derive_seed, make_generator

SESSION_BLOCKS = ("jitter", "mains")
"""The blocks of the image-formation noise that belong to the frame, not to the specimen."""


def placements(scm: SCM) -> dict[str, ImageFormation]:
    """``{node: formation}``: the placement nodes of ``scm`` and an image formation that reads each."""
    out = {}
    for mech in scm.mechanisms.values():
        if isinstance(mech, ImageFormation) and mech.placement is not None:
            out.setdefault(mech.placement, mech)
    return out


def _redraw_session(formation: ImageFormation, u: torch.Tensor, generator) -> torch.Tensor:
    """``u`` (an image formation's uniforms, ``(n, size)``) with the :data:`SESSION_BLOCKS` drawn afresh."""
    fresh = formation.split_noise(formation.layout.sample(u.shape[0], generator, u.device, u.dtype))
    kept = u.clone()
    blocks = formation.split_noise(kept)  # views into ``kept``
    for name in SESSION_BLOCKS:
        blocks[name].copy_(fresh[name])
    return kept


def session_noise(scm: SCM, noise: Mapping[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """``noise`` (a batch's recorded noise, ``{node: (n, ...)}``) with the imaging session's part redrawn from
    ``seed`` (module docstring); the specimen's part is returned unchanged. Nodes are visited in the SCM's order,
    so the same seed gives the same session."""
    missing = [node for node, m in scm.mechanisms.items() if m.noise is not None and node not in noise]
    if missing:
        raise ParameterError(f"session_noise needs the recorded noise of every node; missing {missing}")
    generator = make_generator(seed)
    roles = scm.graph.roles
    out = dict(noise)
    for node in scm.nodes:
        mech = scm.mechanisms[node]
        if mech.noise is None:
            continue
        u = noise[node]
        if roles.get(node) == "instrument" or isinstance(mech, (Detector, Reimaging)):
            out[node] = mech.noise.sample(u.shape[0], generator, u.device, u.dtype)
        elif isinstance(mech, ImageFormation):
            out[node] = _redraw_session(mech, u, generator)
    return out


def reimage(scm: SCM, batch, do: Mapping[str, object], seed: int):
    """The units of ``batch`` (drawn with ``return_noise=True``) under the interventions ``do`` (e.g.
    ``{"scanner": 1.0}``) in a new imaging session drawn from ``seed``: ``{node: (n, ...)}`` like a sample."""
    recorded = getattr(batch, "noise", None)
    if not recorded:
        raise ParameterError("reimage needs a batch sampled with return_noise=True")
    do = dict(do)
    generator = make_generator(derive_seed(seed, "placement"))
    for node, formation in placements(scm).items():
        if node not in do:  # the unit's own placement, its frame's jitter and mains redrawn (module docstring)
            do[node] = {"do": _redraw_session(formation, batch[node], generator), "per_unit": True}
    return scm.counterfactual(batch, do, noise=session_noise(scm, recorded, seed))
