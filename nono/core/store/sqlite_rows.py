"""The SQLite store's tables: opening and migrating a file, purging expired rows, rows ↔ Messages and Sessions."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from nono.core.models import Message, Session
from nono.core.store.base import SCHEMA_VERSION, SchemaTooNew, legacy_speaker

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    conversation_id TEXT PRIMARY KEY, persona TEXT NOT NULL, created_at REAL NOT NULL, last_activity REAL NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0, metadata TEXT NOT NULL DEFAULT '{}'
);
-- (last_activity, conversation_id) is the active list's exact order: pages walk the index, no sort.
CREATE INDEX IF NOT EXISTS sessions_activity ON sessions (last_activity, conversation_id);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
    timestamp REAL NOT NULL, metadata TEXT NOT NULL DEFAULT '{}', speaker_id TEXT, speaker_name TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_conversation_seq ON messages (conversation_id, seq);
CREATE TABLE IF NOT EXISTS people (person TEXT PRIMARY KEY, conversation TEXT NOT NULL, people TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL);
-- Schema 2: long-term memory. Finding everything a person said (an erasure request) must not scan every message.
CREATE INDEX IF NOT EXISTS messages_speaker ON messages (speaker_id);
CREATE TABLE IF NOT EXISTS summaries (
    conversation_id TEXT PRIMARY KEY, text TEXT NOT NULL, covers INTEGER NOT NULL, model TEXT NOT NULL,
    created_at REAL NOT NULL, revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS facts (
    conversation_id TEXT NOT NULL, id TEXT NOT NULL, text TEXT NOT NULL, created_at REAL NOT NULL, author TEXT,
    position INTEGER NOT NULL, PRIMARY KEY (conversation_id, id)
);
CREATE INDEX IF NOT EXISTS facts_author ON facts (author);
-- Schema 3: replies in flight (see `inflight`) and the leases of the processes that own them.
CREATE TABLE IF NOT EXISTS inflight (
    turn_id TEXT PRIMARY KEY, record TEXT NOT NULL, owner TEXT NOT NULL, progress TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS owners (owner TEXT PRIMARY KEY, lease_until REAL NOT NULL);
-- Also schema 3: platform events already seen, so a replayed update is ignored (see `sqlite_events`).
CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS events_expiry ON events (expires_at);
"""
SESSION_COLUMNS = "conversation_id, persona, created_at, last_activity, message_count, metadata"
MESSAGE_COLUMNS = "seq, role, content, timestamp, metadata, speaker_id, speaker_name"

#: Schema 0 (one session per user id) → 1: conversations, a speaker per message, people and tokens.
_FROM_0 = """
ALTER TABLE sessions RENAME COLUMN user_id TO conversation_id;
ALTER TABLE messages RENAME COLUMN user_id TO conversation_id;
ALTER TABLE messages ADD COLUMN speaker_id TEXT;
ALTER TABLE messages ADD COLUMN speaker_name TEXT;
DROP INDEX IF EXISTS messages_user_seq;
"""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the open file to SCHEMA_VERSION in one transaction; the version it had (idempotent).

    1 → 2 → 3 only add tables and an index, which SCHEMA creates when they are missing.
    """
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise SchemaTooNew("The SQLite file", found)
    if found == SCHEMA_VERSION:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
        if "user_id" in columns:  # a schema 0 file (a new file has no table yet)
            for statement in filter(str.strip, _FROM_0.split(";")):
                conn.execute(statement)
            _backfill_speakers(conn)
        for statement in filter(str.strip, SCHEMA.split(";")):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return found


def open_database(path: Path, busy_ms: int) -> tuple[sqlite3.Connection, int]:
    """Open (creating it and its directory if missing) and migrate the file: the connection and the version it had."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: the store issues BEGIN/COMMIT itself.
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        _use_wal(conn, busy_ms)
        conn.execute("PRAGMA synchronous = FULL")
        return conn, migrate(conn)
    except BaseException:
        conn.close()
        raise


def _use_wal(conn: sqlite3.Connection, busy_ms: int) -> None:
    """Switch the file to WAL (it stays so). SQLite answers "database is locked" at once, without waiting
    busy_timeout, while another connection opens the same new file: retry until the timeout instead."""
    deadline = time.monotonic() + busy_ms / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def purge_expired(conn: sqlite3.Connection, cutoff: float) -> None:
    """Delete conversations idle since before `cutoff`, with their summaries and facts (every lookup uses an index)."""
    expired = "SELECT conversation_id FROM sessions WHERE last_activity < ?"
    for table in ("messages", "summaries", "facts"):
        conn.execute(f"DELETE FROM {table} WHERE conversation_id IN ({expired})", (cutoff,))
    conn.execute("DELETE FROM sessions WHERE last_activity < ?", (cutoff,))


def _backfill_speakers(conn: sqlite3.Connection) -> None:
    rows = conn.execute("SELECT rowid, conversation_id, metadata FROM messages WHERE role = 'user'").fetchall()
    updates = [
        (speaker, rowid)
        for rowid, conversation, meta in rows
        if (speaker := legacy_speaker(conversation, metadata_of(meta)))
    ]
    conn.executemany("UPDATE messages SET speaker_id = ? WHERE rowid = ?", updates)


def storable(text: str) -> str | bytes:
    """The text as SQLite can bind it: a lone surrogate cannot be UTF-8, so such text goes in as a BLOB."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def dump(data: dict[str, Any]) -> str:
    # ASCII escapes keep odd unicode (lone surrogates) storable and round-trip exactly.
    return json.dumps(data, ensure_ascii=True, separators=(",", ":"))


def message_row(conversation_id: str, seq: int, m: Message) -> tuple[Any, ...]:
    """A message as the INSERT of `insert_messages` binds it."""
    name = None if m.speaker_name is None else storable(m.speaker_name)
    return (conversation_id, seq, m.role, storable(m.content), m.timestamp, dump(m.metadata), m.speaker_id, name)


INSERT_MESSAGE = f"INSERT INTO messages (conversation_id, {MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_SESSION = f"INSERT OR REPLACE INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"


def session_row(session: Session) -> tuple[Any, ...]:
    return (
        session.conversation_id, session.persona, session.created_at, session.last_activity,
        session.message_count, dump(session.metadata),
    )  # fmt: skip


def message_of(row: tuple[Any, ...]) -> Message:
    seq, role, content, timestamp, metadata, speaker_id, speaker_name = row
    return Message(role, text_of(content), timestamp, metadata_of(metadata), seq, speaker_id, text_of(speaker_name))


def text_of(value: Any) -> Any:
    """Text as `storable` bound it (a BLOB when it held a lone surrogate)."""
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value


def session_of(row: tuple[Any, ...]) -> Session:
    conversation_id, persona, created_at, last_activity, message_count, metadata = row
    return Session(conversation_id, persona, created_at, last_activity, message_count, metadata_of(metadata))


def metadata_of(text: str) -> dict[str, Any]:
    # Nearly every row has none; json.loads("{}") was half the cost of reading a page of history (bench P7).
    return {} if text == "{}" else json.loads(text)
