"""A run folder: its name (the ``run_id`` resolver of ``conf/config.yaml``) and what Hydra writes into it before the
run starts, its job log and ``.hydra/``, made to tolerate a folder that cannot be written: a finished run in a
read-only results folder (a colleague's, an archive) is skipped, and skipping it must not fail on Hydra's own files
(issue 19 §6). A run that has work to do still fails, on its own first write, with the folder named."""

from __future__ import annotations

import hashlib
import logging
import os

from omegaconf import OmegaConf

RUN_ID_MAX = 200  # bytes; file systems allow 255 per name


def run_id(override_dirname: str) -> str:
    """The run's folder name: its overrides (``trainer=irm,seed=0``), with the ``/`` of a nested config group
    (``active/strategy=random``) written as ``.`` so that every run stays one folder below the sweep. A name longer
    than ``RUN_ID_MAX`` bytes (many or long overrides, e.g. a whole dict) keeps its first bytes and ends with a hash
    of the whole, so that it stays a valid, unique file name; the run's ``run.json`` and ``.hydra/`` hold the
    overrides in full."""
    name = override_dirname.replace("/", ".") or "defaults"
    if len(name.encode()) <= RUN_ID_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    head = name.encode()[: RUN_ID_MAX - len(digest) - 1].decode(errors="ignore")
    return f"{head}~{digest}"


OmegaConf.register_new_resolver("run_id", run_id, replace=True)


class RunLogFile(logging.FileHandler):
    """Hydra's job-log file handler (``conf/hydra/job_logging/causalphys.yaml``); where the file cannot be opened
    (the folder is read-only) it logs nothing to a file, and the console still shows everything."""

    def __init__(self, filename, mode="a", encoding=None, delay=False, errors=None):
        super().__init__(filename, mode, encoding, delay=True, errors=errors)
        self.unwritable: str | None = None
        try:
            self.stream = self._open()
        except OSError as err:
            self.unwritable = f"{type(err).__name__}: {err}"

    def emit(self, record: logging.LogRecord) -> None:
        if self.unwritable is None:
            super().emit(record)


def writable_subdir(output_dir: str, subdir: str) -> str | None:
    """``hydra.output_subdir`` (``.hydra``) where Hydra can write it into ``output_dir``, else ``None`` (Hydra then
    saves no config copy; a finished read-only run keeps the one it was written with)."""
    target = os.path.join(output_dir, subdir)
    probe = target if os.path.isdir(target) else output_dir
    return subdir if os.access(probe, os.W_OK) else None


OmegaConf.register_new_resolver("writable_subdir", writable_subdir, replace=True)
