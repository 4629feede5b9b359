"""Whether another process has the SQLite file open: an advisory lock on `<database>.lock`, held while open.

SQLite serves one Nono process: per-conversation order, limits and leases live in that process's
memory, so a second process on the same file would interleave turns. It is not refused (operators
run `nono sidecar` while `nono run` is down, and tests open files freely): the store reports it at
start-up. `flock` is released by the kernel when its holder dies, even by `kill -9`, so a lock file
left behind never looks busy.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def lock_path(database: Path) -> Path:
    """The lock file next to the database (`nono.sqlite3` -> `nono.sqlite3.lock`)."""
    return database.with_name(database.name + ".lock")


class ProcessLock:
    """An exclusive `flock` on the database's lock file, taken once and held until `release`."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = lock_path(database)
        self._fd: int | None = None
        self.shared = False  # True once `acquire` found another holder

    def acquire(self) -> bool:
        """Take the lock unless another process (or another open of the file) holds it; True if taken."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # not inherited by child processes (PEP 446)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self.shared = True
            return False
        self._fd = fd
        self.shared = False
        return True

    def release(self) -> None:
        """Let the next process take it (closing the file descriptor drops the lock)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def warning(self) -> str | None:
        """What the operator should know when another process had the file at `acquire`, else None."""
        if not self.shared:
            return None
        return (
            f"another Nono process is using {self.database}; SQLite serves one process: "
            "use STORE=redis to run several (docs/scaling.md)"
        )
