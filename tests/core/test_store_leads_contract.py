"""Leader leases (`store.leads`), one contract for fakeredis, the real Redis and SQLite.

What Telegram polling relies on: of two processes one leads; the leader keeps the lead by renewing
it; a leader that stops renewing loses it when its lease runs out, and its renewals then fail; a
leader that resigns frees it at once. SQLite serves a single process, which always leads.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nono.core.store.redis_store import RedisStore
from nono.core.store.sqlite_store import SQLiteStore
from tests.conftest import REDIS_URL
from tests.support.reopened import OpenStore, backend_of

POLL = "telegram:poll"
ONE, OTHER = "host-a:101:1a2b3c4d", "host-b:202:5e6f7a8b"
LONG, SHORT = 30.0, 0.2


@pytest.fixture(params=["fakeredis", "redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    return backend_of(request)


async def test_of_two_owners_one_leads_and_renewing_keeps_the_lead(open_store: OpenStore):
    one, other = open_store(), open_store()
    assert await one.leads.lead(POLL, ONE, LONG) is True
    assert await other.leads.lead(POLL, OTHER, LONG) is False
    assert await one.leads.lead(POLL, ONE, LONG) is True, "the holder renews"
    assert await other.leads.lead(POLL, OTHER, LONG) is False, "and still holds it"
    # Another lead is its own: the same owners can hold different ones.
    assert await other.leads.lead("discord:shards", OTHER, LONG) is True


async def test_renewing_before_the_lease_ends_keeps_the_lead_past_it(open_store: OpenStore):
    one, other = open_store(), open_store()
    lease = 0.5
    assert await one.leads.lead(POLL, ONE, lease) is True
    for _ in range(3):  # 0.6 s in all, past the first lease: a renewal every 0.2 s carries it
        await asyncio.sleep(0.2)
        assert await one.leads.lead(POLL, ONE, lease) is True
        assert await other.leads.lead(POLL, OTHER, lease) is False


async def test_an_expired_lead_goes_to_the_other_and_the_stale_owner_cannot_renew(open_store: OpenStore):
    one, other = open_store(), open_store()
    assert await one.leads.lead(POLL, ONE, SHORT) is True
    await asyncio.sleep(SHORT * 2)  # the holder froze or died: nothing renewed its lease
    assert await other.leads.lead(POLL, OTHER, LONG) is True
    assert await one.leads.lead(POLL, ONE, LONG) is False, "the woken holder's renewal fails"
    assert await other.leads.lead(POLL, OTHER, LONG) is True


async def test_resigning_frees_the_lead_but_only_its_holder_can(open_store: OpenStore):
    one, other = open_store(), open_store()
    assert await one.leads.lead(POLL, ONE, LONG) is True
    await other.leads.resign(POLL, OTHER)  # not the holder: nothing changes
    assert await other.leads.lead(POLL, OTHER, LONG) is False
    await one.leads.resign(POLL, ONE)
    assert await other.leads.lead(POLL, OTHER, LONG) is True, "free at once, without waiting for the lease"
    await one.leads.resign(POLL, ONE)  # a stale holder resigning cannot free its successor's lead
    assert await one.leads.lead(POLL, ONE, LONG) is False


async def test_redis_keeps_a_lead_as_one_key_under_the_prefix_expiring_with_the_lease(redis_prefix: str):
    import redis.asyncio as aioredis

    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    raw = aioredis.from_url(REDIS_URL)
    try:
        await store.leads.lead(POLL, ONE, LONG)
        keys = [key.decode() async for key in raw.scan_iter(match=f"{redis_prefix}*")]
        # One key per lead and one key per call: Redis Cluster safe without a hash tag.
        assert keys == [f"{redis_prefix}lead:{POLL}"]
        assert await raw.get(keys[0]) == ONE.encode()
        assert LONG * 1000 - 5_000 < await raw.pttl(keys[0]) <= LONG * 1000
    finally:
        await raw.aclose()
        await store.aclose()


async def test_sqlite_serves_one_process_which_always_leads(tmp_path: Path):
    store = SQLiteStore(tmp_path / "leads.sqlite3")
    try:
        assert await store.leads.lead(POLL, ONE, SHORT) is True
        await asyncio.sleep(SHORT * 2)
        assert await store.leads.lead(POLL, ONE, SHORT) is True
        await store.leads.resign(POLL, ONE)
        assert await store.leads.lead(POLL, ONE, SHORT) is True
    finally:
        await store.aclose()
