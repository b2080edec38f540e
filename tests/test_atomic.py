"""The one atomic writer (causalphys.atomic): the target holds the old content or the new, never half; a failed write
leaves no temporary file; the file gets the mode a new file gets under the umask (results readable by colleagues on
a shared filesystem, not the temporary file's 0600)."""

import os
import stat

import pytest
import torch

from causalphys.atomic import save_torch, write_atomic, write_text
from causalphys.evaluation.store import RunFolder


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_results_and_checkpoints_get_the_umasks_mode(tmp_path, umask_022):
    folder = RunFolder(tmp_path / "run", "abc")
    folder.write({"run": "r"}, [{"run": "r", "trainer": "t", "env": "e", "split": "test", "metric": "accuracy",
                                 "value": 0.5, "selection": "none"}])  # fmt: skip
    assert _mode(folder.results) == 0o644 and _mode(folder.path / "run.json") == 0o644
    assert _mode(save_torch({"a": torch.ones(2)}, tmp_path / "c.pt")) == 0o644
    os.umask(0o077)
    assert _mode(write_text(tmp_path / "private.txt", "x")) == 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    target = write_text(tmp_path / "a.csv", "old\n")

    def fail(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, fail)
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]
    assert write_text(tmp_path / "sub" / "b.txt", "new").read_text() == "new"  # folders are made
