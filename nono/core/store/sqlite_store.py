"""SQLite backend, the embedded default: one file, WAL, synchronous=FULL, off the event loop.

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
from pathlib import Path
from typing import Any, TypeVar

from nono.core.models import ActivePage, Message, Session
from nono.core.store import sqlite_links as links
from nono.core.store.base import Context, PersonRecord, Rewrite
from nono.core.store.common import OutageGuard, lower_bound
from nono.core.store.sqlite_rows import (
    INSERT_MESSAGE,
    INSERT_SESSION,
    MESSAGE_COLUMNS,
    SESSION_COLUMNS,
    message_of,
    message_row,
    open_database,
    purge_expired,
    session_of,
    session_row,
)  # fmt: skip

log = logging.getLogger(__name__)

T = TypeVar("T")


class SQLiteStore:
    """Conversations, histories, links and tokens in one SQLite file (created with its parent directory if missing)."""

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
            on_outage=self._disconnect,
        )  # fmt: skip
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nono-sqlite")

    # -- reads --------------------------------------------------------------------------

    async def migrate(self) -> int:
        """Bring the file to the current schema (done on opening it); the version it had."""
        return await self._call("migrate", lambda conn: self._found_version)

    async def load_context(self, conversation_id: str, limit: int) -> Context:
        """The session and the newest `limit` messages (oldest first): only the window is read."""
        return await self._call("load_context", self._read, self._load_context, conversation_id, limit)

    def _load_context(self, conn: sqlite3.Connection, conversation_id: str, limit: int) -> Context:
        linked = conn.execute("SELECT conversation FROM people WHERE person = ?", (conversation_id,)).fetchone()
        if linked is not None:
            conversation_id = linked[0]
        session = self._live_session(conn, conversation_id)
        if session is None or limit <= 0:
            return Context(session, [], conversation_id)
        rows = conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?",
            (conversation_id, limit),
        ).fetchall()
        return Context(session, [message_of(row) for row in reversed(rows)], conversation_id)

    async def get_session(self, conversation_id: str) -> Session | None:
        """The user's session, or None when there is none (never created, reset, or expired)."""
        return await self._call("get_session", self._read, self._live_session, conversation_id)

    async def history(self, conversation_id: str, limit: int, before: int | None = None) -> list[Message]:
        """Up to `limit` messages with `seq < before` (all when None), newest last, each with `seq` set."""
        return await self._call("history", self._read, self._history, conversation_id, limit, before)

    def _history(self, conn: sqlite3.Connection, conversation_id: str, limit: int, before: int | None) -> list[Message]:
        if limit <= 0 or not self._is_live(conn, conversation_id):
            return []
        rows = conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            (conversation_id, 2**62 if before is None else before, limit),
        ).fetchall()
        return [message_of(row) for row in reversed(rows)]

    async def active_page(self, since: float, offset: int = 0, limit: int = 50) -> ActivePage:
        """Sessions active at or after `since`, most recent first, and how many there are in all."""

        def query(conn: sqlite3.Connection) -> ActivePage:
            lowest = lower_bound(since, self.history_ttl, self._clock)
            rows = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions WHERE last_activity >= ? "
                "ORDER BY last_activity DESC, conversation_id DESC LIMIT ? OFFSET ?",
                (lowest, max(0, limit), max(0, offset)),
            ).fetchall()
            return ActivePage([session_of(row) for row in rows], self._count_active(conn, lowest))

        return await self._call("active_page", self._read, query)

    async def count_active(self, since: float) -> int:
        """How many sessions were active at or after `since`."""
        lowest = lower_bound(since, self.history_ttl, self._clock)
        return await self._call("count_active", self._read, self._count_active, lowest)

    @staticmethod
    def _count_active(conn: sqlite3.Connection, lowest: float) -> int:
        return int(conn.execute("SELECT COUNT(*) FROM sessions WHERE last_activity >= ?", (lowest,)).fetchone()[0])

    def _is_live(self, conn: sqlite3.Connection, conversation_id: str) -> bool:
        """Whether the user has a session that has not expired (without building it)."""
        row = conn.execute(
            "SELECT last_activity FROM sessions WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return row is not None and row[0] >= self._oldest_live()

    def _live_session(self, conn: sqlite3.Connection, conversation_id: str) -> Session | None:
        row = conn.execute(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        if row is None or row[3] < self._oldest_live():
            return None  # an expired session reads as gone; the next write purges it
        return session_of(row)

    def _oldest_live(self) -> float:
        """The last activity below which a session has expired, by the store's clock."""
        return lower_bound(float("-inf"), self.history_ttl, self._clock)

    # -- writes -------------------------------------------------------------------------

    async def set_persona(self, conversation_id: str, persona: str, now: float) -> Session:
        """Create the session if needed and set its persona; counts as activity."""
        return await self._call("set_persona", self._write, now, self._activity, conversation_id, persona, now, True)

    async def touch(
        self, conversation_id: str, persona: str, now: float, metadata: dict[str, Any] | None = None
    ) -> Session:
        """Create the session with `persona` if it does not exist, else mark it active (persona unchanged)."""
        return await self._call(
            "touch", self._write, now, self._activity, conversation_id, persona, now, False, 0, metadata
        )

    async def append_turn(self, conversation_id: str, persona: str, messages: list[Message], now: float) -> Session:
        """Atomically append `messages` and update the session (created with `persona` if missing)."""

        def append(conn: sqlite3.Connection) -> Session:
            last = conn.execute(
                "SELECT MAX(seq) FROM messages WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()[0]
            first = 0 if last is None else last + 1
            conn.executemany(
                INSERT_MESSAGE, [message_row(conversation_id, first + i, m) for i, m in enumerate(messages)]
            )
            return self._activity(conn, conversation_id, persona, now, False, len(messages))

        return await self._call("append_turn", self._write, now, append)

    def _activity(
        self,
        conn: sqlite3.Connection,
        conversation_id: str,
        persona: str,
        now: float,
        persona_wins: bool = False,
        added: int = 0,
        metadata: dict[str, Any] | None = None,
    ) -> Session:
        """Upsert the session as active at `now` (inside the caller's transaction)."""
        row = conn.execute(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            session = Session(conversation_id, persona, now, now, added, dict(metadata or {}))
        else:
            old = session_of(row)
            persona = persona if persona_wins else old.persona
            merged = {**old.metadata, **(metadata or {})}
            session = Session(conversation_id, persona, old.created_at, now, old.message_count + added, merged)
        conn.execute(INSERT_SESSION, session_row(session))
        return session

    async def clear(self, conversation_id: str) -> bool:
        """Forget the user's session and history; True if there was anything to forget."""

        def clear(conn: sqlite3.Connection) -> bool:
            messages = conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,)).rowcount
            sessions = conn.execute("DELETE FROM sessions WHERE conversation_id = ?", (conversation_id,)).rowcount
            return bool(messages or sessions)

        return await self._call("clear", self._write, None, clear)

    # -- links and tokens ---------------------------------------------------------------

    async def person(self, person: str) -> PersonRecord | None:
        """The person's link record, or None when they are linked with nobody."""
        return await self._call("person", self._read, links.read_person, person)

    async def rewrite(self, change: Rewrite, now: float) -> None:
        """Apply a link or unlink in one transaction."""
        await self._call("rewrite", self._write, now, links.apply_rewrite, change)

    async def put_token(self, key: str, value: str, expires_at: float) -> None:
        """Keep `value` under `key` until `expires_at`; expired tokens are swept on the way."""
        await self._call("put_token", self._write, None, links.put_token, key, value, expires_at, self._clock())

    async def take_token(self, key: str, now: float) -> str | None:
        """The unexpired value under `key`, deleted in the same transaction."""
        return await self._call("take_token", self._write, None, links.take_token, key, now)

    async def get_token(self, key: str, now: float) -> str | None:
        """The unexpired value under `key`."""
        return await self._call("get_token", self._read, links.get_token, key, now)

    # -- health and lifecycle -------------------------------------------------------------

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database file can be opened and read."""
        await self._call("ping", self._read, lambda conn: conn.execute("SELECT 1").fetchone())

    async def durability_warnings(self) -> list[str]:
        """Nothing to warn about: WAL with synchronous=FULL is always on."""
        return []

    async def aclose(self) -> None:
        """Close the database on its thread, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._disconnect)
        finally:
            self._executor.shutdown(wait=False)

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
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
