"""The SQLite store's long-term memory: summaries and facts, finding and erasing a person, as transaction steps.

Every function runs inside the caller's transaction; none judges expiry (the store purges and checks first).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable
from typing import Any

from nono.core.store.base import Erased, Fact, Summary
from nono.core.store.sqlite_rows import storable, text_of

SUMMARY_COLUMNS = "text, covers, model, created_at, revision"
FACT_COLUMNS = "id, text, created_at, author"
_PUT_SUMMARY = f"INSERT OR REPLACE INTO summaries (conversation_id, {SUMMARY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_FACT = f"INSERT INTO facts (conversation_id, {FACT_COLUMNS}, position) VALUES (?, ?, ?, ?, ?, ?)"


def read_summary(conn: sqlite3.Connection, conversation_id: str) -> Summary | None:
    """The stored record, a dropped one included."""
    row = conn.execute(
        f"SELECT {SUMMARY_COLUMNS} FROM summaries WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    return None if row is None else Summary(text_of(row[0]), row[1], row[2], row[3], row[4])


def read_facts(conn: sqlite3.Connection, conversation_id: str) -> list[Fact]:
    """Oldest first."""
    rows = conn.execute(
        f"SELECT {FACT_COLUMNS} FROM facts WHERE conversation_id = ? ORDER BY position", (conversation_id,)
    ).fetchall()
    return [Fact(row[0], text_of(row[1]), row[2], row[3]) for row in rows]


def read_memory(conn: sqlite3.Connection, conversation_id: str) -> tuple[Summary | None, tuple[Fact, ...]]:
    """What a turn reads besides its window: the summary unless dropped, and the facts."""
    summary = read_summary(conn, conversation_id)
    return (None if summary is None or summary.dropped else summary), tuple(read_facts(conn, conversation_id))


def put_summary(conn: sqlite3.Connection, conversation_id: str, summary: Summary, revision: int) -> bool:
    """Store `summary` as revision `revision + 1` if the stored revision (0 when none) is `revision`."""
    stored = read_summary(conn, conversation_id)
    if (0 if stored is None else stored.revision) != revision:
        return False
    _write_summary(conn, conversation_id, summary.text, summary.covers, summary.model, summary.created_at, revision + 1)
    return True


def drop_summary(conn: sqlite3.Connection, conversation_id: str, now: float) -> None:
    """Mark the summary dropped (its messages' seqs changed), bumping the revision so no pending write lands."""
    stored = read_summary(conn, conversation_id)
    _write_summary(conn, conversation_id, "", -1, "", now, 1 if stored is None else stored.revision + 1)


def _write_summary(conn: sqlite3.Connection, conversation_id: str, text: str, covers: int, model: str,
                   created_at: float, revision: int) -> None:  # fmt: skip
    conn.execute(_PUT_SUMMARY, (conversation_id, storable(text), covers, model, created_at, revision))


def add_fact(conn: sqlite3.Connection, conversation_id: str, fact: Fact, max_facts: int) -> bool:
    """Append `fact` unless the conversation already holds `max_facts`."""
    count, last = conn.execute(
        "SELECT COUNT(*), MAX(position) FROM facts WHERE conversation_id = ?", (conversation_id,)
    ).fetchone()
    if count >= max_facts:
        return False
    conn.execute(_INSERT_FACT, _fact_row(conversation_id, fact, 0 if last is None else last + 1))
    return True


def delete_facts(conn: sqlite3.Connection, conversation_id: str, ids: Collection[str] | None) -> int:
    """Remove the facts with these ids (all when None); how many went."""
    if ids is None:
        return conn.execute("DELETE FROM facts WHERE conversation_id = ?", (conversation_id,)).rowcount
    before = conn.total_changes
    conn.executemany("DELETE FROM facts WHERE conversation_id = ? AND id = ?", [(conversation_id, i) for i in set(ids)])
    return conn.total_changes - before


def replace_facts(conn: sqlite3.Connection, conversation_id: str, facts: Iterable[Fact]) -> None:
    """The conversation's facts become `facts`, in that order."""
    conn.execute("DELETE FROM facts WHERE conversation_id = ?", (conversation_id,))
    conn.executemany(_INSERT_FACT, [_fact_row(conversation_id, fact, i) for i, fact in enumerate(facts)])


def forget(conn: sqlite3.Connection, conversation_id: str) -> int:
    """Delete the summary and the facts; how many rows went."""
    summaries = conn.execute("DELETE FROM summaries WHERE conversation_id = ?", (conversation_id,)).rowcount
    return summaries + conn.execute("DELETE FROM facts WHERE conversation_id = ?", (conversation_id,)).rowcount


def _fact_row(conversation_id: str, fact: Fact, position: int) -> tuple[Any, ...]:
    return (conversation_id, fact.id, storable(fact.text), fact.created_at, fact.author, position)


def erase_speaker(conn: sqlite3.Connection, conversation_id: str, person: str, now: float) -> Erased:
    """Remove `person`'s turns (their message and the replies up to the next user message) and facts.

    The rest is renumbered 0..n-1 and the summary dropped when a message went.
    """
    rows = conn.execute(
        "SELECT seq, role, speaker_id FROM messages WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
    ).fetchall()
    gone: list[int] = []
    kept: list[int] = []
    theirs = False
    for seq, role, speaker in rows:
        if role == "user":
            theirs = speaker == person
        (gone if theirs else kept).append(seq)
    if gone:
        conn.executemany(
            "DELETE FROM messages WHERE conversation_id = ? AND seq = ?", [(conversation_id, s) for s in gone]
        )
        # Ascending order: each new seq is at most its old one and every lower slot is already free or settled,
        # so the unique (conversation_id, seq) index never sees a collision.
        conn.executemany(
            "UPDATE messages SET seq = ? WHERE conversation_id = ? AND seq = ?",
            [(new, conversation_id, old) for new, old in enumerate(kept) if new != old],
        )
        conn.execute("UPDATE sessions SET message_count = ? WHERE conversation_id = ?", (len(kept), conversation_id))
        drop_summary(conn, conversation_id, now)
    facts = conn.execute(
        "DELETE FROM facts WHERE conversation_id = ? AND author = ?", (conversation_id, person)
    ).rowcount
    return Erased(len(gone), facts)


def conversations_of(conn: sqlite3.Connection, person: str) -> list[str]:
    """Every conversation holding something of `person`, sorted (see Store.conversations_of)."""
    platform, _, user = person.partition(":")
    queries = [
        f"SELECT conversation_id FROM {table} WHERE conversation_id = :person" for table in ("sessions", "messages")
    ]
    if user:
        # Per-person group conversations, `<platform>:…:person:<user>`. Every conversation with messages has a
        # session (expired ones are purged before this runs), so the range walks sessions' primary key, not every
        # message of the platform. The suffix keeps its colon: `discord:1` must not claim `…:person:12`.
        queries.append(
            "SELECT conversation_id FROM sessions WHERE conversation_id >= :low AND conversation_id < :high "
            "AND length(conversation_id) >= length(:low) + length(:suffix) "
            "AND substr(conversation_id, -length(:suffix)) = :suffix"
        )
    queries += [
        "SELECT conversation_id FROM messages WHERE speaker_id = :person AND role = 'user'",
        "SELECT conversation_id FROM facts WHERE author = :person",
    ]
    # ';' sorts right after ':', so [low, high) is every id starting with `<platform>:`.
    params = {"person": person, "low": f"{platform}:", "high": f"{platform};", "suffix": f":person:{user}"}
    rows = conn.execute(" UNION ".join(queries) + " ORDER BY conversation_id", params).fetchall()
    return [row[0] for row in rows]
