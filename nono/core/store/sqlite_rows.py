"""The SQLite store's tables, and how their rows become Messages and Sessions (and back)."""

from __future__ import annotations

import json
from typing import Any

from nono.core.models import Message, Session

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    user_id TEXT PRIMARY KEY, persona TEXT NOT NULL, created_at REAL NOT NULL, last_activity REAL NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0, metadata TEXT NOT NULL DEFAULT '{}'
);
-- (last_activity, user_id) is the active list's exact order: pages walk the index, no sort.
DROP INDEX IF EXISTS sessions_last_activity;
CREATE INDEX IF NOT EXISTS sessions_activity ON sessions (last_activity, user_id);
CREATE TABLE IF NOT EXISTS messages (
    user_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
    timestamp REAL NOT NULL, metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_user_seq ON messages (user_id, seq);
"""
SESSION_COLUMNS = "user_id, persona, created_at, last_activity, message_count, metadata"
MESSAGE_COLUMNS = "seq, role, content, timestamp, metadata"


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


def message_of(row: tuple[Any, ...]) -> Message:
    seq, role, content, timestamp, metadata = row
    if isinstance(content, bytes):
        content = content.decode("utf-8", "surrogatepass")
    return Message(role, content, timestamp, metadata_of(metadata), seq)


def session_of(row: tuple[Any, ...]) -> Session:
    user_id, persona, created_at, last_activity, message_count, metadata = row
    return Session(user_id, persona, created_at, last_activity, message_count, metadata_of(metadata))


def metadata_of(text: str) -> dict[str, Any]:
    # Nearly every row has none; json.loads("{}") was half the cost of reading a page of history (bench P7).
    return {} if text == "{}" else json.loads(text)
