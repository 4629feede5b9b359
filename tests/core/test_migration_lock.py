"""Several processes starting at once on schema 0 Redis data: one migrates, the others wait, nothing is lost.

Each RedisStore here has its own connection pool, as each process would; they run concurrently on
the real Redis with the committed schema 0 dump (tests/fixtures/legacy).
"""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis
import redis.asyncio as aioredis

from nono.core.errors import StoreUnavailable
from nono.core.store.base import SCHEMA_VERSION
from nono.core.store.redis_keys import RedisKeys
from nono.core.store.redis_lock import RedisLocks
from nono.core.store.redis_migration import lock_key
from nono.core.store.redis_store import RedisStore
from tests.conftest import REDIS_URL
from tests.core.test_migration import EXPECTED, assert_nothing_lost
from tests.support.legacy import REDIS_FIXTURE, restore_redis_dump

CONVERSATIONS = len(EXPECTED["conversations"])


@pytest.fixture
def legacy_prefix(redis_prefix: str) -> str:
    """A prefix holding the schema 0 dump, as an older Nono left it."""
    client = redis.Redis.from_url(REDIS_URL)
    restore_redis_dump(client, REDIS_FIXTURE, redis_prefix)
    client.close()
    return redis_prefix


def logged(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == event]


async def test_of_four_processes_starting_at_once_one_migrates_and_all_see_the_data(legacy_prefix, caplog):
    stores = [RedisStore.from_url(REDIS_URL, prefix=legacy_prefix) for _ in range(4)]
    try:
        with caplog.at_level(logging.INFO):
            found = await asyncio.gather(*(store.migrate() for store in stores))
        assert found == [0, 0, 0, 0], "each found the old layout"
        # One migration ran (without the lock, each process would start its own pass over the keyspace).
        assert len(logged(caplog, "store_migration_started")) == 1
        (migrated,) = logged(caplog, "store_migrated")
        assert migrated.moved == CONVERSATIONS
        for store in stores:
            await assert_nothing_lost(store)
        raw = aioredis.from_url(REDIS_URL)
        try:
            assert int(await raw.get(f"{legacy_prefix}schema_version")) == SCHEMA_VERSION
            assert await raw.exists(lock_key(RedisKeys(legacy_prefix))) == 0, "the lock was released"
        finally:
            await raw.aclose()
    finally:
        for store in stores:
            await store.aclose()


async def test_a_migrator_that_died_holding_the_lock_is_replaced_after_its_lease(legacy_prefix, caplog):
    raw = aioredis.from_url(REDIS_URL)
    store = RedisStore.from_url(REDIS_URL, prefix=legacy_prefix)
    try:
        # A process took the lock and was killed before it moved anything: nothing renews its lease.
        assert await RedisLocks(raw).acquire(lock_key(RedisKeys(legacy_prefix)), "killed-process", 0.5)
        with caplog.at_level(logging.INFO):
            assert await store.migrate(wait=10) == 0
        assert len(logged(caplog, "store_migration_waiting")) == 1
        assert len(logged(caplog, "store_migration_started")) == len(logged(caplog, "store_migrated")) == 1
        await assert_nothing_lost(store)
    finally:
        await store.aclose()
        await raw.aclose()


async def test_waiting_too_long_for_another_migration_is_one_clear_error_then_recovers(legacy_prefix, caplog):
    raw = aioredis.from_url(REDIS_URL)
    locks, lock = RedisLocks(raw), lock_key(RedisKeys(legacy_prefix))
    store = RedisStore.from_url(REDIS_URL, prefix=legacy_prefix)
    try:
        assert await locks.acquire(lock, "busy-process", 60.0)  # alive, and slow
        with caplog.at_level(logging.INFO), pytest.raises(StoreUnavailable):
            await store.migrate(wait=0.5)
        (error,) = logged(caplog, "store_migration_wait_exceeded")
        assert error.levelname == "ERROR" and error.lock == lock and "another Nono process" in error.hint
        assert logged(caplog, "store_migration_started") == [], "it never migrated behind the holder's back"

        await locks.release(lock, "busy-process")  # the other process gave up without finishing
        history = await store.history("discord:1001", 100)  # the next call migrates: no restart needed
        assert len(history) == EXPECTED["conversations"]["discord:1001"]["message_count"]
        await assert_nothing_lost(store)
    finally:
        await store.aclose()
        await raw.aclose()


async def test_a_late_migrator_leaves_a_conversation_another_already_moved_alone(legacy_prefix):
    # A holder paused past its lease wakes up with keys it scanned before another process moved them.
    from nono.core.store.redis_migration import _move

    store = RedisStore.from_url(REDIS_URL, prefix=legacy_prefix)
    raw = aioredis.from_url(REDIS_URL)
    try:
        await store.migrate()
        assert await _move(raw, RedisKeys(legacy_prefix), "discord:1001") == 0
        await assert_nothing_lost(store)
    finally:
        await raw.aclose()
        await store.aclose()
