"""The SQLite store's person links and one-time tokens, as steps run inside the store's transactions."""

from __future__ import annotations

import json
import sqlite3

from nono.core.store import sqlite_memory as memory
from nono.core.store.base import PersonRecord, Rewrite
from nono.core.store.sqlite_rows import INSERT_MESSAGE, INSERT_SESSION, message_row, session_row


def read_person(conn: sqlite3.Connection, person: str) -> PersonRecord | None:
    row = conn.execute("SELECT conversation, people FROM people WHERE person = ?", (person,)).fetchone()
    return None if row is None else PersonRecord(person, row[0], tuple(json.loads(row[1])))


def apply_rewrite(conn: sqlite3.Connection, change: Rewrite, now: float) -> None:
    """Replace or delete whole conversations, replace facts, then set or remove person records.

    One transaction: the caller's. A replaced conversation's summary is dropped (its seqs changed);
    a deleted one loses its summary and facts.
    """
    for conversation_id, state in change.conversations.items():
        conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
        conn.execute("DELETE FROM sessions WHERE conversation_id = ?", (conversation_id,))
        if state is None:
            memory.forget(conn, conversation_id)
            continue
        session, messages = state
        conn.execute(INSERT_SESSION, session_row(session))
        conn.executemany(INSERT_MESSAGE, [message_row(conversation_id, i, m) for i, m in enumerate(messages)])
        memory.drop_summary(conn, conversation_id, now)
    for conversation_id, facts in change.facts.items():
        memory.replace_facts(conn, conversation_id, facts)
    for person, record in change.people.items():
        if record is None:
            conn.execute("DELETE FROM people WHERE person = ?", (person,))
        else:
            row = (person, record.conversation, json.dumps(list(record.people)))
            conn.execute("INSERT OR REPLACE INTO people (person, conversation, people) VALUES (?, ?, ?)", row)


def put_token(conn: sqlite3.Connection, key: str, value: str, expires_at: float, now: float) -> None:
    """Keep `value` under `key` until `expires_at`; tokens expired by `now` are swept on the way."""
    conn.execute("DELETE FROM tokens WHERE expires_at <= ?", (now,))
    conn.execute("INSERT OR REPLACE INTO tokens (key, value, expires_at) VALUES (?, ?, ?)", (key, value, expires_at))


def take_token(conn: sqlite3.Connection, key: str, now: float) -> str | None:
    """The unexpired value under `key`, deleted in the same transaction (single use)."""
    row = conn.execute("SELECT value, expires_at FROM tokens WHERE key = ?", (key,)).fetchone()
    conn.execute("DELETE FROM tokens WHERE key = ?", (key,))
    return str(row[0]) if row is not None and row[1] > now else None


def get_token(conn: sqlite3.Connection, key: str, now: float) -> str | None:
    row = conn.execute("SELECT value FROM tokens WHERE key = ? AND expires_at > ?", (key, now)).fetchone()
    return None if row is None else str(row[0])
