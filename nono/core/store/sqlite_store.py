"""SQLite backend, the embedded default: one file, WAL, synchronous=FULL, off the event loop.

The verbs live here; the worker thread, the connection and the transactions in `sqlite_worker`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any, TypeVar

from nono.core.models import ActivePage, Message, Session
from nono.core.store import sqlite_events as events
from nono.core.store import sqlite_inflight as inflight
from nono.core.store import sqlite_links as links
from nono.core.store import sqlite_memory as memory
from nono.core.store.base import Context, Erased, Fact, PersonRecord, Rewrite, Summary
from nono.core.store.common import lower_bound
from nono.core.store.inflight import InFlight, InFlightStore, Settles
from nono.core.store.lines import Fence, SeatRequest
from nono.core.store.sqlite_rows import (
    INSERT_MESSAGE,
    INSERT_SESSION,
    MESSAGE_COLUMNS,
    SESSION_COLUMNS,
    message_of,
    message_row,
    session_of,
    session_row,
)  # fmt: skip
from nono.core.store.sqlite_worker import SQLiteWorker

T = TypeVar("T")


class SQLiteStore(SQLiteWorker):
    """Conversations, histories, memory, links and tokens in one SQLite file (created with its directory if missing)."""

    @property
    def inflight(self) -> InFlightStore:
        """Replies in flight beyond a turn's own read and write."""
        return inflight.SQLiteInFlight(self)

    # -- reads --------------------------------------------------------------------------

    async def migrate(self) -> int:
        """Bring the file to the current schema (done on opening it); the version it had."""
        return await self._call("migrate", lambda conn: self._found_version)

    async def load_context(
        self, conversation_id: str, limit: int, begin: InFlight | None = None, lease_until: float = 0.0,
        seat: SeatRequest | None = None,
    ) -> Context:  # fmt: skip
        """The session, the newest `limit` messages (oldest first), summary and facts: only the window is read.

        With `begin`, the reply in flight is recorded in the same transaction. No `seat`: no shared lines.
        """
        assert seat is None, "SQLite has no shared lines"
        if begin is None:
            return await self._call("load_context", self._read, self._load_context, conversation_id, limit)
        return await self._call(
            "load_context", self._write, None, self._load_context, conversation_id, limit, begin, lease_until
        )

    def _load_context(
        self, conn: sqlite3.Connection, conversation_id: str, limit: int, begin: InFlight | None = None,
        lease_until: float = 0.0,
    ) -> Context:  # fmt: skip
        linked = conn.execute("SELECT conversation FROM people WHERE person = ?", (conversation_id,)).fetchone()
        if linked is not None:
            conversation_id = linked[0]
        if begin is not None:
            inflight.begin(conn, replace(begin, conversation_id=conversation_id), lease_until)
        session = self._live_session(conn, conversation_id)
        if session is None:
            return Context(None, [], conversation_id)
        rows = conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?",
            (conversation_id, max(0, limit)),
        ).fetchall()
        messages = [message_of(row) for row in reversed(rows)]
        return Context(session, messages, conversation_id, *memory.read_memory(conn, conversation_id))

    async def get_session(self, conversation_id: str) -> Session | None:
        """The conversation's session, or None when there is none (never created, reset, or expired)."""
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

    async def append_turn(
        self, conversation_id: str, persona: str, messages: list[Message], now: float,
        settles: Settles | None = None, fence: Fence | None = None,
    ) -> Session:  # fmt: skip
        """Atomically append `messages` and update the session (created with `persona` if missing);
        the reply in flight `settles` (a turn id) is removed in the same transaction."""
        assert fence is None, "SQLite has no shared lines"

        def append(conn: sqlite3.Connection) -> Session:
            if settles is not None:
                inflight.settle_own(conn, settles)
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
        """Forget the conversation's session, history, summary and facts; True if there was anything to forget."""

        def clear(conn: sqlite3.Connection) -> bool:
            messages = conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,)).rowcount
            sessions = conn.execute("DELETE FROM sessions WHERE conversation_id = ?", (conversation_id,)).rowcount
            return bool(messages + sessions + memory.forget(conn, conversation_id))

        return await self._call("clear", self._write, None, clear)

    # -- long-term memory: the core passes resolved ids, so no person link is followed ----

    async def get_summary(self, conversation_id: str) -> Summary | None:
        """The summary record (a dropped one included), or None when none was written or the session expired."""
        return await self._call("get_summary", self._read, self._unexpired, memory.read_summary, conversation_id, None)

    async def put_summary(self, conversation_id: str, summary: Summary, *, revision: int, epoch: float) -> bool:
        """Store `summary` as revision `revision + 1` over revision `revision` of the session started at `epoch`."""

        def put(conn: sqlite3.Connection) -> bool:
            session = self._live_session(conn, conversation_id)
            if session is None or session.created_at != epoch:
                return False  # reset (or expired) since the history was read
            return memory.put_summary(conn, conversation_id, summary, revision)

        return await self._call("put_summary", self._write, self._clock(), put)

    async def facts(self, conversation_id: str) -> list[Fact]:
        """The conversation's facts, oldest first."""
        return await self._call("facts", self._read, self._unexpired, memory.read_facts, conversation_id, [])

    async def add_fact(self, conversation_id: str, fact: Fact, persona: str, now: float, max_facts: int) -> bool:
        """Append `fact` unless `max_facts` are held; creates the session if missing, and counts as activity."""

        def add(conn: sqlite3.Connection) -> bool:
            added = memory.add_fact(conn, conversation_id, fact, max_facts)
            if added:
                self._activity(conn, conversation_id, persona, now)
            return added

        return await self._call("add_fact", self._write, now, add)

    async def delete_facts(self, conversation_id: str, ids: Collection[str] | None = None) -> int:
        """Remove the facts with these ids (every fact when None); how many were removed."""
        return await self._call("delete_facts", self._write, self._clock(), memory.delete_facts, conversation_id, ids)

    async def conversations_of(self, person: str) -> list[str]:
        """Every conversation holding something of `person`, sorted; expired ones are purged first."""
        return await self._call("conversations_of", self._write, self._clock(), memory.conversations_of, person)

    async def erase_speaker(self, conversation_id: str, person: str) -> Erased:
        """Remove `person`'s turns and facts from the conversation in one transaction."""
        now = self._clock()
        return await self._call("erase_speaker", self._write, now, memory.erase_speaker, conversation_id, person, now)

    def _unexpired(self, conn: sqlite3.Connection, read: Callable[..., T], conversation_id: str, missing: T) -> T:
        # Summaries and facts expire with their session; an expired one reads as gone until a write purges it.
        # (Without any session they are shown: Redis keeps such keys too, until their own TTL.)
        row = conn.execute(
            "SELECT last_activity FROM sessions WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return missing if row is not None and row[0] < self._oldest_live() else read(conn, conversation_id)

    # -- links and tokens ---------------------------------------------------------------

    async def person(self, person: str) -> PersonRecord | None:
        """The person's link record, or None when they are linked with nobody."""
        return await self._call("person", self._read, links.read_person, person)

    async def rewrite(self, change: Rewrite, now: float) -> None:
        """Apply a link or unlink in one transaction."""
        await self._call("rewrite", self._write, now, links.apply_rewrite, change, now)

    async def put_token(self, key: str, value: str, expires_at: float) -> None:
        """Keep `value` under `key` until `expires_at`; expired tokens are swept on the way."""
        await self._call("put_token", self._write, None, links.put_token, key, value, expires_at, self._clock())

    async def take_token(self, key: str, now: float) -> str | None:
        """The unexpired value under `key`, deleted in the same transaction."""
        return await self._call("take_token", self._write, None, links.take_token, key, now)

    async def get_token(self, key: str, now: float) -> str | None:
        """The unexpired value under `key`."""
        return await self._call("get_token", self._read, links.get_token, key, now)

    async def first_sighting(self, event: str, ttl: float) -> bool:
        """True if `event` was not seen within `ttl` seconds by the store's clock (now recorded), else False."""
        now = self._clock()
        return await self._call("first_sighting", self._write, None, events.first_sighting, event, now, now + ttl)
