import torch

import causalphys as cp


def test_scanner_shift_environments_and_the_oracle_cut():
    scanners = cp.load_scanners()
    envs = cp.microscopy.scanner_shift(scanners, image_shape=(32, 32))
    assert list(envs) == ["train_a", "train_b", "test", "heldout_scanners"]
    assert "label" in envs.scm.graph.parents("scanner")
    oracle = cp.microscopy.scanner_shift(scanners, oracle=True, image_shape=(32, 32))
    assert oracle.scm.graph.parents("scanner") == ("lab",)  # label -> scanner cut
    b = oracle["train_a"].sample(4000, seed=0, nodes=["scanner", "label"])
    agreement = (b["scanner"] == b["label"]).float().mean().item()
    assert abs(agreement - 0.5) < 0.03  # the scanner says nothing about the label
    assert set(oracle["heldout_scanners"].sample(200, seed=0, nodes=["scanner"])["scanner"].unique().tolist()) == {
        2.0,
        3.0,
    }
    assert torch.equal(b["label"], envs["train_a"].sample(4000, seed=0, nodes=["label"])["label"])  # same units
