"""The index's write lock: one writing process at a time (index build/add/remove, the service's uploads).

An exclusive, non-blocking flock on <index>/write.lock, held for the whole write. Two writers would
corrupt each other's work (the view sweep of one run deletes the other's uncommitted views), so the
second fails at once instead of waiting. The kernel releases a flock when its process dies, even by
kill -9, so a crash never leaves a stale lock. The file itself is never deleted: a writer that
unlinked it could let a third process lock a fresh file beside a holder of the old one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from index.collection import CollectionError

LOCK_FILE = "write.lock"


class IndexLockedError(CollectionError):
    """Another process is writing the index."""


@contextlib.contextmanager
def index_write_lock(root: Path) -> Iterator[None]:
    """Hold the write lock of the index folder `root` (created if missing) inside the `with` block.

    Raises IndexLockedError at once if another process (or another `with` in this one) holds it.
    The holder's pid is written into the file for that message.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLockedError(f"index at {root} is being written by another process "
                                   f"(pid {_holder(fd)}); try again when it has finished") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the flock


def _holder(fd: int) -> str:
    """The pid the holder wrote, or "unknown" if it has not written it yet."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return text if text.isdigit() else "unknown"
