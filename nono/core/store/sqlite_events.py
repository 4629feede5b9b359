"""The SQLite store's platform events already seen (see `nono.core.replays`): one row per event id until it expires."""

from __future__ import annotations

import sqlite3

#: Expired rows removed by each sighting: more than the one it may add, so the table stays about one
#: window's worth of events without a sweeper, and each sighting's cost stays bounded.
PURGE_BATCH = 16


def first_sighting(conn: sqlite3.Connection, event: str, now: float, expires_at: float) -> bool:
    """Record `event` until `expires_at` unless a live record exists; True if it was recorded (inside a write)."""
    conn.execute(
        "DELETE FROM events WHERE rowid IN "
        "(SELECT rowid FROM events WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
        (now, PURGE_BATCH),
    )
    # An expired record not purged yet counts as never seen: the upsert renews it and reports a change.
    recorded = conn.execute(
        "INSERT INTO events (key, expires_at) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE events.expires_at <= ?",
        (event, expires_at, now),
    ).rowcount
    return recorded == 1
