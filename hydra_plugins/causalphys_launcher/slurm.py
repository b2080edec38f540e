"""Hydra's submitit Slurm launcher, as causalphys runs it (``hydra/launcher=slurm``, ``conf/hydra/launcher/``).

The same engine as ``hydra/launcher=submitit_slurm`` (hydra-submitit-launcher: one job array, each job runs one
Hydra job of the sweep), with three changes in :meth:`SlurmLauncher.launch`:

- it submits only the runs whose results are missing: a run whose folder already holds its ``results.csv``
  (checked as :func:`causalphys.run.run` checks it, config hash included) is not resubmitted, so rerunning a sweep
  after a failure costs only the missing runs;
- it waits for every job, logging each run as it finishes, instead of stopping at the first failure in
  submission order;
- a job that crashed, was cancelled or timed out (Slurm's state, read through ``sacct``: the cluster needs job
  accounting) or a run that raised fails the sweep with one :class:`SlurmSweepError` that names every failed run,
  its Slurm job and its log; the finished runs are kept.

Hydra loads launchers only from the ``hydra_plugins`` package (its plugin scan imports this module in every Hydra
app of the environment), hence this module's place.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.errors import CompactHydraException
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from causalphys.errors import SweepFailedError

log = logging.getLogger(__name__)

POLL_S = 2.0  # how often the finished jobs are looked for (submitit rate-limits its own sacct calls)


class SlurmSweepError(SweepFailedError, CompactHydraException):
    """Runs of a Slurm sweep failed; the message names each, its job and its log (Hydra prints it without a
    traceback, and the sweep exits with status 1)."""


class SlurmLauncher(SubmititSlurmLauncher):
    """``hydra_submitit_launcher``'s ``SlurmLauncher`` that submits only unfinished runs and reports failures by
    run (see the module docstring). Its settings are hydra-submitit-launcher's ``SlurmQueueConf``."""

    def _run_state(self, overrides: Sequence[str]) -> tuple[DictConfig, Path, bool]:
        """The sweep config of one run, its folder (``hydra.sweep.dir/hydra.sweep.subdir``, resolved as Hydra's
        ``run_job`` resolves them in the job) and whether its results are already there."""
        from causalphys.run import run_folder

        assert self.hydra_context is not None and self.config is not None
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        hydra_config = HydraConfig.instance()
        saved = hydra_config.cfg
        hydra_config.set_config(sweep_config)
        try:
            folder = Path(str(OmegaConf.select(sweep_config, "hydra.sweep.dir")))
            folder = folder / str(OmegaConf.select(sweep_config, "hydra.sweep.subdir"))
            task_config = copy.deepcopy(sweep_config)
            with read_write(task_config), open_dict(task_config):
                del task_config["hydra"]
            finished = run_folder(task_config, folder).finished()
        finally:
            hydra_config.cfg = saved
        return sweep_config, folder, finished

    def _executor(self):
        """submitit's executor with this launcher's parameters (as hydra-submitit-launcher builds it)."""
        import submitit

        init_keys = {"submitit_folder", "max_num_timeout"}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=self.params["submitit_folder"],
            **{f"{self._EXECUTOR}_max_num_timeout": self.params["max_num_timeout"]},
        )
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in base else f"{self._EXECUTOR}_{k}": v for k, v in self.params.items() if k not in init_keys}
        )
        return executor

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Submit the sweep's unfinished runs as one job array, wait for all of them and return one
        :class:`JobReturn` per run (a finished run's without resubmitting it); raise :class:`SlurmSweepError` naming
        every run that failed."""
        sweep_dir = self._sweep_dir()
        returns, todo = self._finished_runs(job_overrides)
        log.info(
            "Slurm: submitting %d of %d run(s) of %s (%d already finished)",
            len(todo),
            len(job_overrides),
            sweep_dir,
            len(job_overrides) - len(todo),
        )
        if not todo:
            return returns  # type: ignore[return-value]
        started = time.perf_counter()
        jobs = self._submit(job_overrides, todo, initial_job_idx)
        failures = self._wait(jobs, todo, returns, started)
        if failures:
            done = sum(1 for r in returns if r is not None and r.status == JobStatus.COMPLETED)
            raise SlurmSweepError(
                f"{len(failures)} of {len(job_overrides)} run(s) of the sweep in {sweep_dir} failed on Slurm:\n  "
                + "\n  ".join(failures)
                + f"\nThe {done} finished run(s) are kept; run the same command again to resubmit only the others."
            )
        return returns  # type: ignore[return-value]

    def _sweep_dir(self) -> Path:
        """The sweep folder (``hydra.sweep.dir``), created, with ``hydra.sweep.mode`` if set (as
        hydra-submitit-launcher does)."""
        assert self.config is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        return sweep_dir

    def _finished_runs(
        self, job_overrides: Sequence[Sequence[str]]
    ) -> tuple[list[JobReturn | None], list[tuple[int, str]]]:
        """One slot per run, holding a completed :class:`JobReturn` for the runs whose results are already there
        (``None`` for the others), and the others as ``(index in job_overrides, run folder name)``."""
        returns: list[JobReturn | None] = [None] * len(job_overrides)
        todo: list[tuple[int, str]] = []
        for i, overrides in enumerate(job_overrides):
            sweep_config, folder, finished = self._run_state(overrides)
            if finished:
                log.info("%s: already done, not resubmitted (%s)", folder.name, folder)
                returns[i] = JobReturn(
                    overrides=list(overrides),
                    hydra_cfg=sweep_config,
                    working_dir=str(folder),
                    status=JobStatus.COMPLETED,
                    _return_value=None,
                )
            else:
                todo.append((i, folder.name))
        return returns, todo

    def _submit(
        self, job_overrides: Sequence[Sequence[str]], todo: list[tuple[int, str]], initial_job_idx: int
    ) -> list:
        """Submit the runs ``todo`` as one job array (each job runs one Hydra job, as hydra-submitit-launcher's
        ``__call__`` does) and return its submitit jobs, in the order of ``todo``."""
        params = []
        for i, name in todo:
            log.info("\t#%d : %s", initial_job_idx + i, " ".join(filter_overrides(job_overrides[i])) or name)
            params.append(
                (
                    list(job_overrides[i]),
                    "hydra.sweep.dir",
                    initial_job_idx + i,
                    f"job_id_for_{initial_job_idx + i}",
                    Singleton.get_state(),
                )
            )
        jobs = self._executor().map_array(self, *zip(*params))
        log.info("Slurm: submitted job array %s; logs in %s", jobs[0].job_id.split("_")[0], jobs[0].paths.folder.parent)
        return jobs

    def _wait(
        self, jobs: list, todo: list[tuple[int, str]], returns: list[JobReturn | None], started: float
    ) -> list[str]:
        """Wait for every job (polling every :data:`POLL_S` seconds), putting each run's :class:`JobReturn` in
        ``returns`` as its job ends (:meth:`_collect`); return one line per failed run. ``started``: when the
        array was submitted (``time.perf_counter()``)."""
        failures: list[str] = []
        pending = dict(enumerate(jobs))
        while pending:
            for k in [k for k, job in pending.items() if job.done()]:
                job, (i, name) = pending.pop(k), todo[k]
                returns[i], failure = self._collect(job, name, started)
                if failure is not None:
                    failures.append(failure)
            if pending:
                time.sleep(POLL_S)
        return failures

    @staticmethod
    def _collect(job, name: str, started: float) -> tuple[JobReturn | None, str | None]:
        """The outcome of the ended ``job`` of run ``name``, logged: its :class:`JobReturn` (``None`` if the job
        ended without one: killed, cancelled, timed out, out of memory...) and, if the run failed, a line naming
        its error or Slurm state, its job and its log (``None`` if it completed)."""
        from submitit.core.utils import UncompletedJobError

        try:
            ret = job.results()[0]
        except UncompletedJobError:
            state = job.state
            log.error("%s: job %s ended %s without a result", name, job.job_id, state)
            return None, f"{name}: job {job.job_id} ended {state} without a result; log {job.paths.stderr}"
        if ret.status == JobStatus.COMPLETED:
            log.info("%s: done (job %s, %.0f s after submission)", name, job.job_id, time.perf_counter() - started)
            return ret, None
        error = ret._return_value
        log.error("%s: failed in job %s: %s: %s", name, job.job_id, type(error).__name__, error)
        return ret, f"{name}: {type(error).__name__}: {error} (job {job.job_id}; log {job.paths.stderr})"
