"""The index's write lock: a second writer is refused at once, and a dead holder (kill -9) frees it."""

from __future__ import annotations

import signal

import pytest

from index.lock import LOCK_FILE, IndexLockedError, index_write_lock
from tests.conftest import held_index_lock


def test_a_second_writer_is_refused_while_another_process_holds_the_lock(tmp_path):
    root = tmp_path / "idx"
    with held_index_lock(root) as holder:
        with pytest.raises(IndexLockedError, match=rf"being written by another process \(pid {holder.pid}\)"):
            with index_write_lock(root):
                pytest.fail("entered a lock another process holds")
    assert holder.returncode == -signal.SIGKILL
    with index_write_lock(root):  # the kernel released the dead holder's lock: no stale lock
        assert (root / LOCK_FILE).read_text().strip().isdigit()


def test_one_writer_at_a_time_within_a_process_too(tmp_path):
    with index_write_lock(tmp_path), pytest.raises(IndexLockedError, match="another process"):
        with index_write_lock(tmp_path):
            pass
    with index_write_lock(tmp_path):  # released at the end of the block, also after an error
        pass
    with pytest.raises(RuntimeError), index_write_lock(tmp_path):
        raise RuntimeError("writer failed")
    with index_write_lock(tmp_path):
        pass
