"""Data written by the previous layout (schema 0, committed fixtures) migrates at start-up, losing nothing."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
import redis

from nono.core.models import Message
from nono.core.store.base import SCHEMA_VERSION, Fact, SchemaTooNew, Store
from nono.core.store.redis_store import RedisStore
from nono.core.store.sqlite_store import SQLiteStore
from tests.conftest import REDIS_URL
from tests.support.legacy import EXPECTED_FIXTURE, REDIS_FIXTURE, legacy_sqlite_copy, restore_redis_dump

EXPECTED: dict[str, Any] = json.loads(EXPECTED_FIXTURE.read_text(encoding="utf-8"))
#: Who said each user message, as the migration can tell from schema 0's ids and metadata.
SPEAKERS = {
    "discord:1001": {"discord:1001"},
    "telegram:2002": {"telegram:2002"},
    "rest:bob": {"rest:bob"},
    "discord:channel:3001": {"discord:1001", "discord:1003"},
    "telegram:chat:-100777": {"telegram:2001", "telegram:2003"},
}


async def assert_nothing_lost(store: Store) -> None:
    page = await store.active_page(0, 0, 100)
    assert [s.conversation_id for s in page.sessions] == EXPECTED["active_order"]
    for conversation_id, expected in EXPECTED["conversations"].items():
        session = await store.get_session(conversation_id)
        assert session is not None, conversation_id
        assert (session.persona, session.created_at, session.last_activity, session.message_count) == (
            expected["persona"], expected["created_at"], expected["last_activity"], expected["message_count"],
        )  # fmt: skip
        assert session.metadata == expected["metadata"]
        messages = await store.history(conversation_id, 1000)
        assert [(m.seq, m.role, m.content, m.timestamp, m.metadata) for m in messages] == [
            (m["seq"], m["role"], m["content"], m["timestamp"], m["metadata"]) for m in expected["messages"]
        ]
        if conversation_id in SPEAKERS:
            assert {m.speaker_id for m in messages if m.role == "user"} == SPEAKERS[conversation_id]
        context = await store.load_context(conversation_id, 2)
        assert [m.content for m in context.messages] == [m["content"] for m in expected["messages"][-2:]]


async def test_a_schema_0_sqlite_file_migrates_losing_nothing_and_twice_is_harmless(tmp_path):
    path = legacy_sqlite_copy(tmp_path)
    store = SQLiteStore(path)
    try:
        assert await store.migrate() == 0
        await assert_nothing_lost(store)
    finally:
        await store.aclose()
    again = SQLiteStore(path)
    try:
        assert await again.migrate() == SCHEMA_VERSION
        await assert_nothing_lost(again)
    finally:
        await again.aclose()


def sqlite_layout(path) -> tuple[int, set[str]]:
    """The file's schema version and the names of its tables and indexes."""
    with sqlite3.connect(path) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    conn.close()
    return version, names


MEMORY_LAYOUT = {"summaries", "facts", "messages_speaker", "facts_author"}


async def test_a_schema_1_sqlite_file_gains_the_memory_tables_and_keeps_its_data(tmp_path):
    # A schema 1 file is a schema 2 file without what schema 2 added: build one by taking those away.
    path = tmp_path / "nono.sqlite3"
    store = SQLiteStore(path)
    await store.append_turn("discord:1", "pirate", [Message("user", "hi", 1.0, speaker_id="discord:1")], 2.0)
    await store.aclose()
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "DROP TABLE summaries; DROP TABLE facts; DROP INDEX messages_speaker; PRAGMA user_version = 1;"
        )
    conn.close()
    assert sqlite_layout(path)[0] == 1 and not MEMORY_LAYOUT & sqlite_layout(path)[1]

    for found in (1, SCHEMA_VERSION):
        store = SQLiteStore(path)
        try:
            assert await store.migrate() == found
            assert [m.content for m in await store.history("discord:1", 10)] == ["hi"]
            assert await store.add_fact("discord:1", Fact("k1", "likes tea", 3.0, "discord:1"), "pirate", 3.0, 5)
            assert await store.conversations_of("discord:1") == ["discord:1"]
            await store.delete_facts("discord:1")
        finally:
            await store.aclose()
    version, names = sqlite_layout(path)
    assert version == SCHEMA_VERSION and names >= MEMORY_LAYOUT


async def test_a_schema_0_sqlite_file_gains_the_memory_tables_too(tmp_path):
    path = legacy_sqlite_copy(tmp_path)
    store = SQLiteStore(path)
    try:
        await store.migrate()
        assert await store.conversations_of("discord:1003") == ["discord:channel:3001"]  # found by the speaker index
    finally:
        await store.aclose()
    version, names = sqlite_layout(path)
    assert version == SCHEMA_VERSION and names >= MEMORY_LAYOUT


async def test_a_schema_0_redis_dump_migrates_losing_nothing_and_twice_is_harmless(redis_prefix):
    client = redis.Redis.from_url(REDIS_URL)
    restore_redis_dump(client, REDIS_FIXTURE, redis_prefix)
    client.close()
    for found in (0, SCHEMA_VERSION):
        store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
        try:
            assert await store.migrate() == found
            await assert_nothing_lost(store)
        finally:
            await store.aclose()


async def test_a_store_used_before_it_could_migrate_migrates_on_first_use(redis_prefix):
    client = redis.Redis.from_url(REDIS_URL)
    restore_redis_dump(client, REDIS_FIXTURE, redis_prefix)
    client.close()
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)  # as if Redis was down at start-up
    try:
        history = await store.history("discord:1001", 100)
        assert len(history) == EXPECTED["conversations"]["discord:1001"]["message_count"]
    finally:
        await store.aclose()


async def test_a_newer_sqlite_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = SQLiteStore(path)
    try:
        with pytest.raises(SchemaTooNew, match=f"schema version {SCHEMA_VERSION + 1}.*newer Nono"):
            await store.migrate()
    finally:
        await store.aclose()


async def test_a_newer_redis_schema_is_refused_with_a_clear_message(redis_prefix):
    client = redis.Redis.from_url(REDIS_URL)
    client.set(f"{redis_prefix}schema_version", SCHEMA_VERSION + 1)
    client.close()
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        with pytest.raises(SchemaTooNew, match="Redis"):
            await store.migrate()
    finally:
        await store.aclose()
