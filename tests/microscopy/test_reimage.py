"""Re-imaging: the specimen kept, the session (instrument settings, shot noise, jitter) redrawn."""

import pytest
import torch

from causalphys.errors import ParameterError
from causalphys.microscopy.lab import Lab, confounded_lab
from causalphys.microscopy.reimage import reimage, session_noise
from causalphys.microscopy.scanners import load_scanners

SAMPLE = ("lattice_constant", "rotation", "strain_xx", "strain_yy", "strain_xy", "background", "phase")


@pytest.fixture(scope="module")
def scm_and_batch():
    scm = confounded_lab(load_scanners(), [Lab("a", (0, 1), 0.9)], image_shape=(32, 32))
    return scm, scm.sample(6, seed=0, return_noise=True)


def test_reimaging_keeps_the_specimen_and_redraws_the_session(scm_and_batch):
    scm, batch = scm_and_batch
    same = reimage(scm, batch, {"scanner": 0.0}, seed=1)
    assert torch.equal(same["image"], reimage(scm, batch, {"scanner": 0.0}, seed=1)["image"])  # seeded
    other_session = reimage(scm, batch, {"scanner": 0.0}, seed=2)
    for node in SAMPLE:
        assert torch.equal(same[node], batch[node]) and torch.equal(other_session[node], batch[node])
    # the same scanner in another session: other settings within the preset, other shot noise
    assert not torch.equal(same["probe_sigma"], other_session["probe_sigma"])
    assert not torch.equal(same["image"], other_session["image"])
    # a counterfactual keeps the frame's noise; re-imaging does not
    cf = scm.counterfactual(batch, {"scanner": 0.0})
    assert not torch.equal(cf["probe_sigma"], same["probe_sigma"])


def test_session_noise_keeps_the_specimens_blocks_of_the_image_formation_noise(scm_and_batch):
    scm, batch = scm_and_batch
    fresh = session_noise(scm, batch.noise, seed=3)
    formation = scm.mechanisms["clean"]
    old, new = formation.split_noise(batch.noise["clean"]), formation.split_noise(fresh["clean"])
    for block in ("offset", "vacancy", "background"):
        assert torch.equal(old[block], new[block])
    for block in ("jitter", "mains"):
        assert not torch.equal(old[block], new[block])
    assert not torch.equal(fresh["image"], batch.noise["image"])  # the detector's shot and read noise
    assert torch.equal(fresh["strain_xx"], batch.noise["strain_xx"])


def test_reimaging_needs_recorded_noise(scm_and_batch):
    scm, _ = scm_and_batch
    with pytest.raises(ParameterError, match="return_noise=True"):
        reimage(scm, scm.sample(2, seed=0), {"scanner": 1.0}, seed=0)
    with pytest.raises(ParameterError, match="missing"):
        session_noise(scm, {}, seed=0)


def test_a_new_session_of_the_column_lab_redraws_the_frames_jitter_in_its_image_and_its_map():
    from causalphys.microscopy.column_lab import column_lab

    scm = column_lab(load_scanners(), image_shape=(32, 32))
    batch = scm.sample(3, seed=0, return_noise=True)
    formation = scm.mechanisms["clean"]
    one = reimage(scm, batch, {"scanner": 2.0}, seed=1)
    assert torch.equal(one["columns"], reimage(scm, batch, {"scanner": 2.0}, seed=1)["columns"])  # seeded
    two = reimage(scm, batch, {"scanner": 2.0}, seed=2)
    old, new = formation.split_noise(batch["placement"]), formation.split_noise(one["placement"])
    for block in ("offset", "vacancy", "background"):  # the specimen stays where it was
        assert torch.equal(old[block], new[block])
    for block in ("jitter", "mains"):  # the frame is another
        assert not torch.equal(old[block], new[block])
    assert not torch.equal(one["placement"], two["placement"])
    # the map follows its own session's jitter (scanner 2 has line jitter), and equals the map of that placement
    assert not torch.equal(one["columns"], two["columns"])
    session = session_noise(scm, batch.noise, seed=1)
    pinned = scm.counterfactual(
        batch, {"scanner": 2.0, "placement": {"do": one["placement"], "per_unit": True}}, noise=session
    )
    assert torch.equal(pinned["columns"], one["columns"])
    # a placement given by the caller is kept
    kept = reimage(scm, batch, {"scanner": 2.0, "placement": {"do": batch["placement"], "per_unit": True}}, seed=1)
    assert torch.equal(kept["placement"], batch["placement"])
