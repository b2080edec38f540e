"""Checkpoint files: atomic writes, safe reads, and the ``step_XXXXXXXX.pt`` files of a checkpoint folder.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so that it loads with
``torch.load(..., weights_only=True)`` (no arbitrary pickled objects are executed).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from causalphys.trainers.errors import CheckpointError

_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint dict at ``path``, read with ``weights_only=True`` onto the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {str(path)!r}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        # torch says "[Errno 22] Invalid argument" for a cut-off file and talks of weights_only for a foreign one
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = f"{type(e).__name__}: {lines[-1]}" if lines else type(e).__name__
        raise CheckpointError(
            f"the checkpoint {str(path)!r} ({path.stat().st_size} bytes) is damaged or not a torch checkpoint: cut "
            "off while it was written, or another file under a checkpoint's name. Delete it (training resumes from "
            f"an older checkpoint if there is one, else starts over) or point checkpoint_dir elsewhere. (torch: "
            f"{detail[:120]})"
        ) from e
    if not isinstance(ckpt, dict) or "net" not in ckpt or "format" not in ckpt:
        raise CheckpointError(f"{str(path)!r} is not a causalphys trainer checkpoint")
    return ckpt


def step_checkpoint_path(directory: str | os.PathLike, step: int) -> Path:
    """``directory/step_{step:08d}.pt``: the checkpoint after ``step`` completed updates."""
    return Path(directory) / f"step_{step:08d}.pt"


def step_checkpoints(directory: str | os.PathLike) -> dict[int, Path]:
    """The ``step_XXXXXXXX.pt`` files of ``directory`` by step (empty if the folder does not exist)."""
    directory = Path(directory)
    if not directory.is_dir():
        return {}
    found = {}
    for entry in directory.iterdir():
        match = _STEP_FILE.match(entry.name)
        if match and entry.is_file():
            found[int(match.group(1))] = entry
    return found


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The checkpoint with the most completed steps in ``directory``, or ``None``."""
    found = step_checkpoints(directory)
    return found[max(found)] if found else None


def remove_older_checkpoints(directory: str | os.PathLike, step: int) -> None:
    """Delete the ``step_XXXXXXXX.pt`` files of ``directory`` from before ``step``."""
    for earlier, path in step_checkpoints(directory).items():
        if earlier < step:
            path.unlink(missing_ok=True)


def plain_data(value: object) -> object:
    """``value`` as numbers, strings, lists and dicts (what ``torch.load(weights_only=True)`` reads back).

    Mappings (also omegaconf's ``DictConfig``) become dicts with string keys, sequences (``ListConfig``, tuples)
    lists; anything else (a ``torch.device``, a path) its ``str``.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [plain_data(v) for v in value]
    return str(value)


def check_resumable(ckpt: dict, current: dict, may_change: frozenset[str], where: str) -> None:
    """Raise :class:`CheckpointError` unless ``ckpt`` comes from the same run as ``current``.

    ``current["hparams"]`` must equal ``ckpt["hparams"]`` except for the keys in ``may_change`` (the message lists
    each difference as ``key: old -> new``); every other key of ``current`` (environment names, input shape, ...)
    must equal the checkpoint's; ``current["data"]``, the digest of the training data (:func:`data_digest`), too.
    """
    mine, theirs = current["hparams"], ckpt["hparams"]
    changed = sorted(k for k in set(mine) | set(theirs) if k not in may_change and mine.get(k) != theirs.get(k))
    if changed:
        diffs = ", ".join(f"{k}: {theirs.get(k)!r} -> {mine.get(k)!r}" for k in changed)
        raise CheckpointError(f"{where}: hyper-parameters differ ({diffs}); use another checkpoint_dir")
    for key, value in current.items():
        if key not in ("hparams", "data") and ckpt.get(key) != value:
            raise CheckpointError(f"{where}: its {key} {ckpt.get(key)!r} differ from this fit's {value!r}")
    if "data" in current and ckpt.get("data") != current["data"]:
        raise CheckpointError(
            f"{where}: it was trained on other data (digest {ckpt.get('data') or 'not recorded'}, this fit's "
            f"{current['data']}): the benchmark's config or its files changed since; use another checkpoint_dir, or "
            "delete this one to train afresh"
        )


def data_digest(envs: Mapping[object, Sequence[torch.Tensor]]) -> str:
    """SHA-256 (first 16 hex digits) of the training data ``{env: (x, y)}``: the environments' names, shapes,
    dtypes and bytes, in order. A checkpoint records it; a resume on other data is refused."""
    h = hashlib.sha256()
    for name, tensors in envs.items():
        h.update(repr(name).encode())
        for t in tensors:
            t = t.detach().to("cpu").contiguous()
            h.update(f"{tuple(t.shape)}{t.dtype}".encode())
            h.update(t.view(torch.uint8).numpy() if t.numel() else b"")
    return h.hexdigest()[:16]
