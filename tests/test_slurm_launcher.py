"""The Slurm launcher's bookkeeping without a Slurm: a fake submitit executor stands in for the cluster (the real
sweeps are in tests/cluster, ``make test-cluster``)."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from submitit.core.utils import UncompletedJobError

from hydra_plugins.causalphys_launcher import slurm


class FakeJob:
    """A submitit job that has ended: ``outcome`` is ``"ok"``, ``"raised"`` (the run raised) or ``"killed"``."""

    def __init__(self, k: int, outcome: str, folder: Path):
        self.job_id, self.outcome, self.state = f"77_{k}", outcome, "CANCELLED"
        self.paths = SimpleNamespace(folder=folder / "77_0", stderr=folder / f"77_{k}.err")

    def done(self) -> bool:
        return True

    def results(self) -> list[JobReturn]:
        if self.outcome == "killed":
            raise UncompletedJobError("no result")
        if self.outcome == "raised":
            return [JobReturn(status=JobStatus.FAILED, _return_value=ValueError("bad seed"))]
        return [JobReturn(status=JobStatus.COMPLETED)]


def launcher(tmp_path: Path, finished: set[str], outcomes: list[str], submitted: list):
    """A launcher whose runs ``finished`` have their results and whose submitted jobs end as ``outcomes``."""
    it = slurm.SlurmLauncher.__new__(slurm.SlurmLauncher)
    it.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}})
    it._run_state = lambda ov: ({}, tmp_path / "sweep" / ov[0], ov[0] in finished)

    def map_array(fn, *columns):
        submitted.extend(columns[0])
        return [FakeJob(k, outcome, tmp_path) for k, outcome in enumerate(outcomes)]

    it._executor = lambda: SimpleNamespace(map_array=map_array)
    return it


def test_a_sweep_submits_only_unfinished_runs_and_names_every_failed_one(tmp_path, monkeypatch):
    monkeypatch.setattr(slurm, "POLL_S", 0.0)
    submitted = []
    runs = [["seed=0"], ["seed=1"], ["seed=2"], ["seed=3"]]
    it = launcher(tmp_path, {"seed=1"}, ["ok", "killed", "raised"], submitted)
    with pytest.raises(slurm.SlurmSweepError) as err:
        it.launch(runs, 0)
    assert submitted == [["seed=0"], ["seed=2"], ["seed=3"]]  # the finished run is not resubmitted
    message = str(err.value)
    assert message.startswith(f"2 of 4 run(s) of the sweep in {tmp_path / 'sweep'} failed on Slurm")
    assert "seed=2: job 77_1 ended CANCELLED without a result" in message
    assert "seed=3: ValueError: bad seed (job 77_2" in message
    assert "The 2 finished run(s) are kept" in message


def test_a_finished_sweep_submits_nothing(tmp_path):
    submitted = []
    it = launcher(tmp_path, {"seed=0", "seed=1"}, [], submitted)
    returns = it.launch([["seed=0"], ["seed=1"]], 0)
    assert submitted == [] and [r.status for r in returns] == [JobStatus.COMPLETED] * 2
    assert returns[1].working_dir == str(tmp_path / "sweep" / "seed=1")
