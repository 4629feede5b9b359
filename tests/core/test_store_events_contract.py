"""Platform events already seen (`first_sighting`), one contract for SQLite, fakeredis and the real Redis.

What the replay check of every adapter relies on: an event id is new once, a replay is recognised
until the window ends, by another store over the same data too (a restart, another process), and of
concurrent sightings exactly one is first.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from nono.core.store.redis_store import RedisStore
from nono.core.store.sqlite_store import SQLiteStore
from tests.conftest import REDIS_URL
from tests.support.clock import ManualClock
from tests.support.reopened import OpenStore, backend_of

DAY = 24 * 60 * 60.0
UPDATE = "telegram:update:123456:1001"


@pytest.fixture(params=["sqlite", "fakeredis", "redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    return backend_of(request)


async def test_an_event_is_new_once_then_a_replay(open_store: OpenStore):
    store = open_store()
    assert await store.first_sighting(UPDATE, DAY) is True
    assert await store.first_sighting(UPDATE, DAY) is False
    assert await store.first_sighting(UPDATE, DAY) is False
    # Other ids are their own events, a longer id sharing the prefix included.
    assert await store.first_sighting(UPDATE + "0", DAY) is True
    assert await store.first_sighting("discord:message:1001", DAY) is True


async def test_an_event_is_new_again_once_its_window_has_passed(open_store: OpenStore):
    store = open_store()
    assert await store.first_sighting(UPDATE, 0.05) is True
    await asyncio.sleep(0.15)
    assert await store.first_sighting(UPDATE, DAY) is True, "the short window is over"
    assert await store.first_sighting(UPDATE, 0.05) is False, "the new sighting's day-long window holds"


async def test_a_replay_is_recognised_after_a_restart_and_by_another_client(open_store: OpenStore):
    first = open_store()
    assert await first.first_sighting(UPDATE, DAY) is True
    await first.aclose()
    assert await open_store().first_sighting(UPDATE, DAY) is False, "a store reopened over the same data"


async def test_of_concurrent_sightings_across_two_stores_exactly_one_is_first(open_store: OpenStore):
    one, other = open_store(), open_store()
    sightings = [store.first_sighting(f"discord:message:{n}", DAY) for n in range(5) for store in (one, other) * 4]
    results = await asyncio.gather(*sightings)
    assert [sum(results[n * 8 : n * 8 + 8]) for n in range(5)] == [1] * 5


async def test_redis_keeps_an_event_under_the_prefix_with_a_day_long_ttl(redis_prefix: str):
    import redis.asyncio as aioredis

    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    raw = aioredis.from_url(REDIS_URL)
    try:
        await store.first_sighting(UPDATE, DAY)
        keys = [key.decode() async for key in raw.scan_iter(match=f"{redis_prefix}*")]
        # The event id is the key's hash tag, so the key is Redis Cluster safe like every other key.
        assert keys == [f"{redis_prefix}event:{{{UPDATE}}}"]
        assert DAY * 1000 - 60_000 < await raw.pttl(keys[0]) <= DAY * 1000
    finally:
        await raw.aclose()
        await store.aclose()


async def test_sqlite_forgets_expired_events_as_new_ones_arrive(tmp_path: Path):
    clock = ManualClock()
    store = SQLiteStore(tmp_path / "events.sqlite3", clock=clock)
    try:
        for n in range(40):
            await store.first_sighting(f"telegram:update:1:{n}", DAY)
        clock.now += DAY + 1  # by the store's clock, every one of them has expired
        assert await store.first_sighting("telegram:update:1:0", DAY) is True
        for n in range(40, 43):
            await store.first_sighting(f"telegram:update:1:{n}", DAY)
    finally:
        await store.aclose()
    with sqlite3.connect(tmp_path / "events.sqlite3") as db:
        kept = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert kept < 20, "the file does not keep every event ever seen"
