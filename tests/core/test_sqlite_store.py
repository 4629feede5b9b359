"""SQLiteStore beyond the contract: pragmas, window-only reads, locks, broken files, TTL purge, indexed erasure."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import pytest

from nono.core.errors import StoreUnavailable
from nono.core.models import Message
from nono.core.store.base import Fact, Summary
from nono.core.store.sqlite_store import SQLiteStore

USER = "telegram:42"


def turn(i: int, at: float = 100.0) -> list[Message]:
    return [Message("user", f"question {i}", at), Message("assistant", f"answer {i}", at + 1)]


async def on_store_connection(store: SQLiteStore, fn):
    """Run `fn(connection)` on the store's own worker thread and connection."""
    return await store._call("test", fn)


async def test_connection_uses_wal_full_sync_and_a_busy_timeout(tmp_path: Path):
    store = SQLiteStore(tmp_path / "nono.sqlite3", busy_timeout=2.5)
    try:
        pragmas = await on_store_connection(
            store,
            lambda conn: {
                name: conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "busy_timeout")
            },
        )
        assert pragmas == {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 2500}  # 2 = FULL
        assert await store.durability_warnings() == []
    finally:
        await store.aclose()


async def test_creates_missing_directories_and_keeps_data_across_reopen(tmp_path: Path):
    path = tmp_path / "data" / "deeper" / "nono.sqlite3"
    store = SQLiteStore(path)
    await store.append_turn(USER, "pirate", turn(0), 102.0)
    await store.aclose()
    await store.aclose()  # closing twice is harmless

    reopened = SQLiteStore(path)
    try:
        session, window, *_ = await reopened.load_context(USER, 10)
        assert session.persona == "pirate" and [m.content for m in window] == ["question 0", "answer 0"]
    finally:
        await reopened.aclose()


async def test_a_turn_reads_only_the_window_however_long_the_history(tmp_path: Path):
    # SQLite's progress handler counts virtual-machine steps: a deterministic measure of work.
    async def steps_to_load_window(store: SQLiteStore) -> int:
        steps = [0]

        def tick() -> int:
            steps[0] += 1
            return 0  # 0 = carry on

        await on_store_connection(store, lambda conn: conn.set_progress_handler(tick, 10))
        session, window, *_ = await store.load_context(USER, 20)
        await on_store_connection(store, lambda conn: conn.set_progress_handler(None, 0))
        assert len(window) == 20 and window[-1].seq == session.message_count - 1
        return steps[0]

    short, long = SQLiteStore(tmp_path / "short.sqlite3"), SQLiteStore(tmp_path / "long.sqlite3")
    try:
        for store, turns in ((short, 20), (long, 2000)):
            messages = [m for i in range(turns) for m in turn(i, float(i))]
            await store.append_turn(USER, "assistant", messages, 5000.0)

        short_steps, long_steps = await steps_to_load_window(short), await steps_to_load_window(long)
        assert long_steps < 2 * short_steps  # 100 times the history, about the same work
    finally:
        await short.aclose()
        await long.aclose()


async def test_waiting_for_a_lock_does_not_block_the_event_loop(tmp_path: Path):
    path = tmp_path / "nono.sqlite3"
    store = SQLiteStore(path, busy_timeout=30)
    await store.ping()  # creates the file and schema
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        write = asyncio.create_task(store.append_turn(USER, "assistant", turn(0), 102.0))
        await asyncio.sleep(0.3)  # the loop runs while the store waits on busy_timeout
        assert not write.done()
        other.execute("COMMIT")
        await write
        assert [m.content for m in await store.history(USER, 10)] == ["question 0", "answer 0"]
    finally:
        other.close()
        await store.aclose()


async def test_a_locked_database_is_a_clear_error_and_nothing_half_done_is_kept(tmp_path: Path, caplog):
    path = tmp_path / "nono.sqlite3"
    store = SQLiteStore(path, busy_timeout=0.1)
    await store.append_turn(USER, "assistant", turn(0), 102.0)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with caplog.at_level(logging.WARNING, logger="nono.core.store.sqlite_store"):
            for _ in range(2):
                with pytest.raises(StoreUnavailable, match="temporarily unavailable"):
                    await store.append_turn(USER, "assistant", turn(1), 202.0)
            assert [m.content for m in await store.history(USER, 10)] == ["question 0", "answer 0"]  # WAL reads
            other.execute("ROLLBACK")
            await store.append_turn(USER, "assistant", turn(2), 302.0)
        assert [r.getMessage() for r in caplog.records] == ["store_unavailable", "store_recovered"]
        session, window, *_ = await store.load_context(USER, 10)
        assert session.message_count == 4
        assert [m.content for m in window] == ["question 0", "answer 0", "question 2", "answer 2"]
    finally:
        other.close()
        await store.aclose()


async def test_a_full_disk_mid_turn_keeps_nothing_half_written(tmp_path: Path):
    store = SQLiteStore(tmp_path / "nono.sqlite3")
    try:
        await store.append_turn(USER, "assistant", turn(0), 102.0)
        # Cap the file a few pages above its size: the reply cannot fit after the user's message.
        await on_store_connection(
            store,
            lambda conn: conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0] + 8}"),
        )
        big = [Message("user", "q" * 20_000, 200.0), Message("assistant", "a" * 60_000, 201.0)]
        with pytest.raises(StoreUnavailable):
            await store.append_turn(USER, "assistant", big, 202.0)

        session, window, *_ = await store.load_context(USER, 10)
        assert session.message_count == 2 and session.last_activity == 102.0
        assert [m.content for m in window] == ["question 0", "answer 0"]
        await store.append_turn(USER, "assistant", big, 302.0)  # space again (the store reconnected)
        assert [m.seq for m in await store.history(USER, 10)] == [0, 1, 2, 3]
    finally:
        await store.aclose()


async def test_a_write_that_fails_midway_is_rolled_back(tmp_path: Path):
    store = SQLiteStore(tmp_path / "nono.sqlite3")
    try:
        await store.append_turn(USER, "assistant", turn(0), 102.0)
        unstorable = [Message("user", "fine", 200.0), Message("assistant", "bad", 201.0, {"x": object()})]
        with pytest.raises(TypeError):  # a caller's bug surfaces as itself, not as an outage
            await store.append_turn(USER, "assistant", unstorable, 202.0)

        await store.append_turn(USER, "assistant", turn(1), 302.0)
        assert [m.content for m in await store.history(USER, 10)] == [
            "question 0",
            "answer 0",
            "question 1",
            "answer 1",
        ]
    finally:
        await store.aclose()


async def test_an_unusable_path_is_a_clear_error_until_it_is_fixed(tmp_path: Path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    store = SQLiteStore(blocker / "nono.sqlite3")
    try:
        with pytest.raises(StoreUnavailable):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.append_turn(USER, "assistant", turn(0), 102.0)

        blocker.unlink()  # the operator fixes it; no restart needed
        await store.append_turn(USER, "assistant", turn(0), 102.0)
        assert (await store.get_session(USER)).message_count == 2
    finally:
        await store.aclose()


async def test_a_corrupt_file_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "nono.sqlite3"
    path.write_bytes(b"this is not a database " * 100)
    store = SQLiteStore(path)
    try:
        with pytest.raises(StoreUnavailable):
            await store.get_session(USER)
    finally:
        await store.aclose()


async def test_history_ttl_judges_reads_by_the_clock_and_purges_on_write(tmp_path: Path):
    path = tmp_path / "nono.sqlite3"
    store = SQLiteStore(path, history_ttl=60)
    now = time.time()
    try:
        await store.append_turn("telegram:old", "pirate", turn(0, now - 200), now - 120)
        await store.append_turn("telegram:recent", "tutor", turn(0, now - 40), now - 30)
        for conversation_id, at in (("telegram:old", now - 120), ("telegram:recent", now - 30)):
            await store.add_fact(conversation_id, Fact("k1", "a note", at), "pirate", at, 5)
            # Written straight into the table: the old conversation has already expired for the store's verbs.
            await on_store_connection(store, lambda conn, c=conversation_id, t=at: conn.execute(
                "INSERT INTO summaries VALUES (?, 'said things', 1, 'm', ?, 1)", (c, t)
            ))  # fmt: skip

        assert await store.get_session("telegram:old") is None  # idle 120 s > 60 s
        assert await store.history("telegram:old", 10) == []
        assert await store.facts("telegram:old") == [] and await store.get_summary("telegram:old") is None
        assert (await store.get_session("telegram:recent")).persona == "tutor"
        assert await store.count_active(0) == 1

        await store.touch(USER, "assistant", now)  # any write purges expired users for good
        with sqlite3.connect(path) as raw:
            rows = raw.execute("SELECT conversation_id, COUNT(*) FROM messages GROUP BY conversation_id").fetchall()
            sessions = {row[0] for row in raw.execute("SELECT conversation_id FROM sessions")}
            memory = {
                t: raw.execute(f"SELECT DISTINCT conversation_id FROM {t}").fetchall() for t in ("facts", "summaries")
            }
        raw.close()
        assert rows == [("telegram:recent", 2)]
        assert memory == {"facts": [("telegram:recent",)], "summaries": [("telegram:recent",)]}
        assert sessions == {"telegram:recent", USER}
    finally:
        await store.aclose()


async def test_finding_a_person_does_not_read_everyone_elses_messages(tmp_path: Path):
    # Counted in SQLite virtual-machine steps, like the window above: the speaker index does the finding.
    async def steps_to_find(store: SQLiteStore) -> int:
        steps = [0]

        def tick() -> int:
            steps[0] += 1
            return 0

        await on_store_connection(store, lambda conn: conn.set_progress_handler(tick, 10))
        found = await store.conversations_of("telegram:7")
        await on_store_connection(store, lambda conn: conn.set_progress_handler(None, 0))
        assert found == ["telegram:chat:-5", "telegram:chat:-5:person:7"]
        return steps[0]

    small, large = SQLiteStore(tmp_path / "small.sqlite3"), SQLiteStore(tmp_path / "large.sqlite3")
    try:
        for store, turns in ((small, 20), (large, 2000)):
            others = [Message("user", f"q{i}", float(i), speaker_id=f"telegram:{i % 9 + 10}") for i in range(turns)]
            await store.append_turn("telegram:chat:-5", "assistant", others, 5000.0)
            await store.append_turn("telegram:chat:-6", "assistant", others, 5000.0)
            await store.append_turn(
                "telegram:chat:-5", "assistant", [Message("user", "me", 1.0, speaker_id="telegram:7")], 5001.0
            )
            await store.touch("telegram:chat:-5:person:7", "assistant", 5002.0)

        small_steps, large_steps = await steps_to_find(small), await steps_to_find(large)
        assert large_steps < 2 * small_steps  # 100 times the messages, about the same work
    finally:
        await small.aclose()
        await large.aclose()


async def test_an_erasure_that_fails_midway_changes_nothing(tmp_path: Path):
    store = SQLiteStore(tmp_path / "nono.sqlite3")
    try:
        spoken = [Message("user", "mine", 1.0, speaker_id=USER), Message("assistant", "reply", 2.0)]
        await store.append_turn("telegram:chat:-5", "assistant", spoken + turn(1), 3.0)
        await store.add_fact("telegram:chat:-5", Fact("k1", "a note", 3.0, USER), "assistant", 3.0, 5)

        # The summary is written last: a trigger that refuses it makes the erasure fail after the deletions.
        await on_store_connection(store, lambda conn: conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON summaries BEGIN SELECT RAISE(ABORT, 'disk said no'); END"
        ))  # fmt: skip
        with pytest.raises(sqlite3.IntegrityError):
            await store.erase_speaker("telegram:chat:-5", USER)
        assert [m.content for m in await store.history("telegram:chat:-5", 10)] == [
            "mine",
            "reply",
            "question 1",
            "answer 1",
        ]
        assert len(await store.facts("telegram:chat:-5")) == 1

        await on_store_connection(store, lambda conn: conn.execute("DROP TRIGGER refuse"))
        assert (await store.erase_speaker("telegram:chat:-5", USER)).messages == 2
        assert (await store.get_summary("telegram:chat:-5")) == Summary(
            "", -1, "", pytest.approx(time.time(), abs=60), 1
        )
    finally:
        await store.aclose()
