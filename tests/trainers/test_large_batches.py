"""Full-batch training above FUSE_ROWS runs one forward pass per environment; it must optimise the same objective
as the pooled pass (equal up to float round-off)."""

import pytest
import torch

from causalphys.nets import MLP
from causalphys.trainers import ERM, IRM, VREx, base

from .data import separable


@pytest.mark.parametrize("cls", [ERM, IRM, VREx])
def test_per_environment_passes_match_the_pooled_pass(cls, monkeypatch):
    envs = separable(n=base.FUSE_ROWS // 2 + 50, d=4)  # 2 environments: more rows than FUSE_ROWS in all
    kwargs = dict(steps=3, batch_size=None, seed=0, progress=False)
    if cls is not ERM:
        kwargs.update(penalty_weight=10.0, penalty_anneal_steps=1)
    split = cls(**kwargs).fit(MLP(4, 2, hidden=(8,)), envs)
    monkeypatch.setattr(base, "FUSE_ROWS", 10**9)
    for module in ("causalphys.trainers.erm", "causalphys.trainers.annealed"):
        monkeypatch.setattr(f"{module}.FUSE_ROWS", 10**9)
    pooled = cls(**kwargs).fit(MLP(4, 2, hidden=(8,)), envs)
    for a, b in zip(split.net_.parameters(), pooled.net_.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
