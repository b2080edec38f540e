"""Trainers whose first attempt fails, for the cluster tests (``tests/cluster/conf/trainer/``)."""

from __future__ import annotations

import os
from pathlib import Path

from causalphys.trainers.erm import ERM


class FailOnce(ERM):
    """ERM whose first attempt fails at its first step; once ``flag`` exists (the first attempt creates it) it
    trains as ERM, so that a rerun of the sweep succeeds.

    ``how="exit"``: the process ends at once (``os._exit(3)``), with no Python exception and no result, as a job
    killed by the kernel or a node failure; ``how="raise"``: the run raises a ``RuntimeError``.
    """

    def __init__(self, flag: str, how: str = "exit", **params):
        super().__init__(**params)
        if how not in ("exit", "raise"):
            raise ValueError(f"FailOnce how must be 'exit' or 'raise', got {how!r}")
        self.flag = flag
        self.how = how

    def update(self, batches):
        if not Path(self.flag).exists():
            Path(self.flag).touch()
            if self.how == "exit":
                os._exit(3)
            raise RuntimeError("FailOnce: the first attempt of this run fails on purpose")
        return super().update(batches)
