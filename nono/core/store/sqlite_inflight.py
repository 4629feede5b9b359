"""The SQLite store's replies in flight: one row per reply, one per owner's lease (see `inflight`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping

from nono.core.store.inflight import InFlight, Lease, Orphan, Progress, ReplyTakenOver, Settles
from nono.core.store.sqlite_worker import SQLiteWorker


def begin(conn: sqlite3.Connection, record: InFlight, lease_until: float) -> None:
    """Record `record` and extend its owner's lease (inside the turn's read-and-begin transaction)."""
    conn.execute(
        "INSERT OR REPLACE INTO inflight (turn_id, record, owner, progress) VALUES (?, ?, ?, ?)",
        (record.turn_id, json.dumps(record.to_data()), record.owner, json.dumps(record.progress.to_data())),
    )
    extend(conn, Lease(record.owner, lease_until))


def extend(conn: sqlite3.Connection, lease: Lease) -> None:
    conn.execute(
        "INSERT INTO owners (owner, lease_until) VALUES (?, ?) "
        "ON CONFLICT (owner) DO UPDATE SET lease_until = MAX(lease_until, excluded.lease_until)",
        lease,
    )


def keep_alive(conn: sqlite3.Connection, lease: Lease, progress: Mapping[str, Progress]) -> None:
    extend(conn, lease)
    conn.executemany(
        "UPDATE inflight SET progress = ? WHERE turn_id = ?",
        [(json.dumps(shown.to_data()), turn_id) for turn_id, shown in progress.items()],
    )


def settle_own(conn: sqlite3.Connection, settles: Settles) -> None:
    """Remove the record if `settles.owner` owns it, else raise ReplyTakenOver (the transaction rolls back)."""
    if not conn.execute("DELETE FROM inflight WHERE turn_id = ? AND owner = ?", settles).rowcount:
        raise ReplyTakenOver(settles.turn_id)


def settle(conn: sqlite3.Connection, turn_id: str) -> None:
    conn.execute("DELETE FROM inflight WHERE turn_id = ?", (turn_id,))


def records(conn: sqlite3.Connection) -> list[Orphan]:
    rows = conn.execute(
        "SELECT i.record, i.owner, i.progress, COALESCE(o.lease_until, 0) FROM inflight i "
        "LEFT JOIN owners o ON o.owner = i.owner ORDER BY i.rowid"
    ).fetchall()
    return [
        Orphan(InFlight.from_data(json.loads(record), owner, Progress.from_data(json.loads(progress))), float(until))
        for record, owner, progress, until in rows
    ]


def claim(conn: sqlite3.Connection, turn_id: str, expected_owner: str, lease: Lease) -> bool:
    taken = conn.execute(
        "UPDATE inflight SET owner = ? WHERE turn_id = ? AND owner = ?", (lease.owner, turn_id, expected_owner)
    ).rowcount
    if taken:
        extend(conn, lease)
        # Owners whose every turn was resolved or claimed are gone for good: forget their leases.
        conn.execute("DELETE FROM owners WHERE lease_until < ? AND owner NOT IN (SELECT owner FROM inflight)",
                     (lease.until - 86400,))  # fmt: skip
    return bool(taken)


class SQLiteInFlight:
    """The in-flight verbs, run on the store's worker thread in its transactions."""

    def __init__(self, worker: SQLiteWorker) -> None:
        self._worker = worker

    async def keep_alive(self, lease: Lease, progress: Mapping[str, Progress]) -> None:
        worker = self._worker
        await worker._call("keep_alive", worker._write, None, keep_alive, lease, progress)

    async def records(self) -> list[Orphan]:
        return await self._worker._call("inflight_records", self._worker._read, records)

    async def claim(self, turn_id: str, expected_owner: str, lease: Lease) -> bool:
        worker = self._worker
        return await worker._call("claim_inflight", worker._write, None, claim, turn_id, expected_owner, lease)

    async def settle(self, turn_id: str) -> None:
        await self._worker._call("settle_inflight", self._worker._write, None, settle, turn_id)
