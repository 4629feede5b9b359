"""The SQLite store's worker thread: one connection, its transactions, and outages turned into StoreUnavailable.

Every sqlite3 call runs on one dedicated worker thread. A connection may only be used by the
thread that opened it, and SQLite allows one writer at a time anyway, so a single thread
costs no parallelism; in exchange, operations run in the order they were submitted and a
transaction can never interleave with another from this process, without any lock.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from nono.core.store.common import OutageGuard
from nono.core.store.duties import Duties
from nono.core.store.sqlite_duties import LocalDuties
from nono.core.store.sqlite_leads import SQLiteLeads
from nono.core.store.sqlite_lock import ProcessLock
from nono.core.store.sqlite_rows import open_database, purge_expired

# Outages are logged under the store's name, as they were before the worker had its own module.
log = logging.getLogger("nono.core.store.sqlite_store")

T = TypeVar("T")


class SQLiteWorker:
    """Runs steps on the file's one thread, each in its own read or write transaction.

    A file serves one process, so what several processes would share lives in this one's memory.
    """

    leads = SQLiteLeads()  # leader leases: the one process always leads (stateless)
    lines = None  # its own lines order its turns (no seats, fences or shared limits here)

    @cached_property
    def duties(self) -> Duties:
        """Duty claims kept in this process's memory."""
        return LocalDuties()

    def __init__(
        self, path: str | Path, history_ttl: float | None = None, *, busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.path = Path(path)
        self.history_ttl = history_ttl
        self._clock = clock
        self._busy_ms = max(0, round(busy_timeout * 1000))
        self._conn: sqlite3.Connection | None = None
        self._found_version = 0  # the schema version the file had when this store first opened it
        # "database is locked", disk I/O, an unreadable or corrupt file: the user can only retry. After a
        # failure the file is reopened on the next call, in case it was replaced or restored.
        self._guard = OutageGuard(
            log, "sqlite", (sqlite3.Error, OSError),
            bugs=(sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError),
            on_outage=self._disconnect, where=str(self.path),
        )  # fmt: skip
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nono-sqlite")
        self.process_lock = ProcessLock(self.path)  # tells whether another process has the file (start-up warning)

    async def aclose(self) -> None:
        """Close the database on its thread, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._disconnect)
        finally:
            self._executor.shutdown(wait=False)
            self.process_lock.release()

    # -- the worker thread ------------------------------------------------------------------

    async def _call(self, op: str, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._guarded, op, fn, *args)

    def _guarded(self, op: str, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the worker thread; sqlite3 errors become StoreUnavailable in `self._guard`."""
        with self._guard(op):
            return fn(self._connection(), *args)

    def _read(self, conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
        # One read transaction so the session and its messages come from the same snapshot.
        conn.execute("BEGIN")
        try:
            return fn(conn, *args)
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _write(self, conn: sqlite3.Connection, now: float | None, fn: Callable[..., T], *args: Any) -> T:
        # IMMEDIATE takes the write lock up front: a deferred read-then-write transaction could
        # fail to upgrade with SQLITE_BUSY without honouring busy_timeout.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if now is not None and self.history_ttl is not None:
                purge_expired(conn, now - self.history_ttl)
            result = fn(conn, *args)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn, self._found_version = open_database(self.path, self._busy_ms)
            self.process_lock.acquire()  # held from the first open until `aclose`; retried after an outage
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    # -- health -------------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database file can be opened and read."""
        await self._call("ping", self._read, lambda conn: conn.execute("SELECT 1").fetchone())

    async def durability_warnings(self) -> list[str]:
        """Only that another process has the file (WAL with synchronous=FULL is always on)."""
        warning = await self._call("durability_warnings", lambda conn: self.process_lock.warning())
        return [warning] if warning else []
