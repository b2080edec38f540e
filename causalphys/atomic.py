"""Writing a file atomically: a reader (another run, a report, a colleague on a shared filesystem) sees the old file
or the new one, never half of one — the project's one writer of result, report, cache and checkpoint files.

The data go to a temporary file in the target's folder (created if missing), which is flushed and fsynced, given
the mode a newly created file gets under the process's umask (``0o666 & ~umask``: the temporary file's own 0600
would leave results unreadable to a group on a cluster filesystem), and moved over the target with
:func:`os.replace` (atomic on POSIX and Windows). If writing fails, the temporary file is removed and the target
keeps its previous content.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch


def _new_file_mode() -> int:
    """``0o666 & ~umask``: the mode ``open(path, "w")`` gives a new file (the umask is read, then restored)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` with the name of a temporary file beside ``path``, then move it over ``path`` (module
    docstring). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix or ".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:  # whatever wrote it (pandas, matplotlib, torch): its bytes reach the disk
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)

    return write_atomic(path, write)


def save_torch(obj: object, path: str | os.PathLike) -> Path:
    """:func:`torch.save` ``obj`` to ``path`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    return write_atomic(path, write)
