"""The results store: one folder per run, written so that an interrupted sweep resumes without redoing or
corrupting finished runs.

A run folder holds ``run.json`` (what the run is: its resolved config, the config's hash, seed, trainer, the
environments) and ``results.csv`` (its tidy rows). Both are written atomically (temporary file + ``os.replace``)
and ``results.csv`` last, so **a run is finished exactly when its results.csv exists**: a run killed at any moment
leaves at most a ``run.json``, training checkpoints and temporary files, which the next attempt overwrites or
resumes from. Benchmark data can be cached per (benchmark config, seed) the same way (:func:`cached_data`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import hashlib
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from causalphys.atomic import save_torch, write_text
from causalphys.data.benchmark import BenchmarkData, EnvironmentInfo
from causalphys.errors import CausalPhysError

FIELDS = ("run", "trainer", "env", "split", "metric", "value", "selection")
RESULTS, META = "results.csv", "run.json"
LOCK = ".lock"  # held (flock) by the process computing the run: RunFolder.claim


class StoreError(CausalPhysError):
    """A run folder that cannot be used (it holds another configuration's results, or is unreadable)."""


class RunBusy(StoreError):
    """This very run (same folder, same configuration) is being computed by another process right now."""


def config_hash(config: Mapping) -> str:
    """SHA-256 (first 16 hex digits) of the config as canonical JSON (sorted keys): equal configs, equal hashes."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rows_to_csv(rows: list[dict], fields: Sequence[str] = FIELDS) -> str:
    """CSV text of ``rows`` with the columns ``fields`` (the tidy result columns by default), header first."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        missing = [k for k in fields if k not in row]
        if missing:
            raise StoreError(f"result row {row} lacks column(s) {missing}")
        writer.writerow({k: row[k] for k in fields})
    return buffer.getvalue()


class RunFolder:
    """The folder of one run (``path``) for a config whose hash is ``hash``."""

    def __init__(self, path: str | os.PathLike, hash: str):
        self.path = Path(path)
        self.hash = hash

    @property
    def results(self) -> Path:
        return self.path / RESULTS

    def finished(self) -> bool:
        """``True`` if this config's results are already here. A folder holding another config's finished results
        raises :class:`StoreError` rather than mixing or overwriting them."""
        if not self.results.is_file():
            return False
        meta_path = self.path / META
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise StoreError(f"{meta_path} is missing or unreadable next to finished results: {err}") from err
        if meta.get("hash") != self.hash:
            raise StoreError(
                f"{self.path} holds the results of another configuration (hash {meta.get('hash')}, this one "
                f"{self.hash}); use another sweep folder, or delete that run folder to redo it"
            )
        return damage(meta, self.results) is None  # damaged results (cut off, edited) are computed again

    @contextlib.contextmanager
    def claim(self):
        """Hold the run folder while the run is computed: an exclusive ``flock`` on ``<folder>/.lock`` (the kernel
        drops it when the process ends, however it ends), which holds this configuration's hash. Another process
        claiming the folder meanwhile gets :class:`RunBusy` if it runs the same configuration (an identical sweep
        started twice: its caller skips the run instead of computing it twice), and :class:`StoreError` if it runs
        another one (two configurations whose folder names coincide: the second fails instead of overwriting)."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = os.pread(fd, 64, 0).decode(errors="replace").strip()
                if other == self.hash:
                    raise RunBusy(f"{self.path} is being computed by another process (same configuration)") from None
                raise StoreError(
                    f"{self.path} is being written by another process for another configuration (hash "
                    f"{other or 'not yet written'}, this one {self.hash}): two configurations map to one run folder "
                    "(keys left out of the folder name, e.g. +experiment=...); give them separate sweep folders"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, self.hash.encode(), 0)
            yield self
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def write(self, meta: Mapping, rows: list[dict], fields: Sequence[str] = FIELDS) -> None:
        """``run.json`` then ``results.csv`` (columns ``fields``), each atomically: the run counts as finished only
        after both. ``run.json`` records the rows' count and the digest of ``results.csv`` (:func:`damage`)."""
        text = rows_to_csv(rows, fields)
        meta = {**meta, "hash": self.hash, "n_rows": len(rows), "results_sha256": text_digest(text)}
        write_text(self.path / META, json.dumps(meta, indent=2, default=str) + "\n")
        write_text(self.results, text)


def text_digest(text: str) -> str:
    """SHA-256 (first 16 hex digits) of ``text`` as UTF-8: the bytes :func:`~causalphys.atomic.write_text` writes."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def damage(meta: Mapping, results: Path) -> str | None:
    """Why ``results`` (a run's ``results.csv``) is not what its ``run.json`` (``meta``) says was written — cut off
    by a full disk, edited by hand — or ``None`` if it is (or the run predates the recorded digest)."""
    expected = meta.get("results_sha256")
    if expected is None:
        return None
    try:
        got = hashlib.sha256(Path(results).read_bytes()).hexdigest()[:16]
    except OSError as err:
        return f"results.csv cannot be read: {err}"
    if got != expected:
        return (
            f"results.csv does not match its run.json (digest {got}, written {expected}; {meta.get('n_rows')} rows "
            "were written): cut off or edited"
        )
    return None


def _plain(data: BenchmarkData) -> dict:
    """Every field of ``data`` as tensors, numbers, strings, lists and dicts (``weights_only`` loads them)."""
    plain = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    plain["info"] = {k: v.to_dict() for k, v in data.info.items()}
    return plain


def cached_data(folder: str | os.PathLike | None, key: str, build: Callable[[], BenchmarkData]) -> BenchmarkData:
    """``build()``, or its copy cached under ``folder/<key>.pt`` (written atomically, read with
    ``weights_only=True``). ``folder=None`` disables the cache. The cached tensors are the built ones, bit for bit."""
    if folder is None:
        return build()
    path = Path(folder) / f"{key}.pt"
    if path.is_file():
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
            d["info"] = {k: EnvironmentInfo(**v) for k, v in d["info"].items()}
            return BenchmarkData(**d)
        except Exception:  # an unreadable cache is rebuilt, never trusted
            path.unlink(missing_ok=True)
    data = build()
    save_torch(_plain(data), path)
    return data
