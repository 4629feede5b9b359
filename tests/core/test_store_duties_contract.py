"""Background duties (`store.duties`), one contract for SQLite, fakeredis and the real Redis.

What the summarizer (and any duty that must not run twice at once) relies on: of several owners, one
holds a duty at a time; its holder renews it by claiming again; a holder that stops renewing loses
it when its lease runs out; releasing frees it at once, but only for its holder. On Redis the claims
are shared by every store over the same keys (every process).
"""

from __future__ import annotations

import asyncio

import pytest

from nono.core.store import Store
from nono.core.store.duties import duty
from nono.core.store.redis_store import RedisStore
from tests.conftest import REDIS_URL
from tests.support.reopened import OpenStore, backend_of

CONVERSATION = "telegram:chat:-100777"
DAY = 24 * 60 * 60.0


@pytest.fixture(params=["sqlite", "fakeredis", "redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    return backend_of(request)


async def test_one_owner_holds_a_duty_and_renews_it_by_claiming_again(open_store: OpenStore):
    duties = open_store().duties
    assert await duties.claim("summary", CONVERSATION, "host:1:a", DAY) is True
    assert await duties.claim("summary", CONVERSATION, "host:2:b", DAY) is False, "held by another"
    assert await duties.claim("summary", CONVERSATION, "host:1:a", DAY) is True, "its holder renews it"
    # Other subjects and other duties are claims of their own.
    assert await duties.claim("summary", "discord:1001", "host:2:b", DAY) is True
    assert await duties.claim("cleanup", CONVERSATION, "host:2:b", DAY) is True


async def test_only_the_holder_releases_a_duty_and_then_another_may_claim_it(open_store: OpenStore):
    duties = open_store().duties
    await duties.claim("summary", CONVERSATION, "host:1:a", DAY)
    await duties.release("summary", CONVERSATION, "host:2:b")
    assert await duties.claim("summary", CONVERSATION, "host:2:b", DAY) is False, "a stranger's release is ignored"
    await duties.release("summary", CONVERSATION, "host:1:a")
    assert await duties.claim("summary", CONVERSATION, "host:2:b", DAY) is True
    await duties.release("summary", "never-claimed", "host:1:a")  # releasing nothing is harmless


async def test_a_holder_that_stops_renewing_loses_the_duty_when_its_lease_runs_out(open_store: OpenStore):
    duties = open_store().duties
    assert await duties.claim("summary", CONVERSATION, "dead-process", 0.1) is True
    await asyncio.sleep(0.3)
    assert await duties.claim("summary", CONVERSATION, "host:2:b", DAY) is True
    assert await duties.claim("summary", CONVERSATION, "dead-process", DAY) is False, "it cannot come back"


async def test_of_concurrent_claims_exactly_one_wins(open_store: OpenStore):
    duties = open_store().duties
    claims = [duties.claim("summary", f"rest:{n}", f"owner-{k}", DAY) for n in range(5) for k in range(8)]
    results = await asyncio.gather(*claims)
    assert [sum(results[n * 8 : n * 8 + 8]) for n in range(5)] == [1] * 5


async def test_a_duty_held_through_a_block_is_renewed_past_its_lease_then_released(open_store: OpenStore):
    duties = open_store().duties
    async with duty(duties, "summary", CONVERSATION, "host:1:a", 0.3) as held:
        assert held is not None
        for _ in range(3):  # three leases long: only renewals keep it
            await asyncio.sleep(0.3)
            assert await duties.claim("summary", CONVERSATION, "host:2:b", DAY) is False
        assert not held.lost
    assert await duties.claim("summary", CONVERSATION, "host:2:b", DAY) is True, "released when the block ends"


async def test_a_block_whose_duty_someone_else_holds_is_told_so(open_store: OpenStore):
    duties = open_store().duties
    await duties.claim("summary", CONVERSATION, "host:2:b", DAY)
    async with duty(duties, "summary", CONVERSATION, "host:1:a", DAY) as held:
        assert held is None
    assert await duties.claim("summary", CONVERSATION, "host:1:a", DAY) is False, "the other's claim was kept"


async def test_redis_duties_are_shared_by_every_store_and_a_lost_lease_is_reported(redis_prefix: str):
    # Two stores over one Redis are two processes. (SQLite serves one process: its claims live in the store.)
    stores = [RedisStore.from_url(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    try:
        await _shared_and_lost(stores[0], stores[1])
    finally:
        for store in stores:
            await store.aclose()


async def _shared_and_lost(first: Store, second: Store) -> None:
    one, other = first.duties, second.duties
    async with duty(one, "summary", CONVERSATION, "host:1:a", 0.3) as held:
        assert held is not None
        assert await other.claim("summary", CONVERSATION, "host:2:b", DAY) is False, "seen by another process"
        # As if this process had been paused past its lease: the other took the duty meanwhile.
        await one.release("summary", CONVERSATION, "host:1:a")
        assert await other.claim("summary", CONVERSATION, "host:2:b", DAY) is True
        async with asyncio.timeout(5):
            while not held.lost:
                await asyncio.sleep(0.05)
    assert await one.claim("summary", CONVERSATION, "host:1:a", DAY) is False, "leaving did not free the other's"


async def test_redis_keeps_a_duty_in_one_key_tagged_with_its_conversation(redis_prefix: str):
    import redis.asyncio as aioredis

    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    raw = aioredis.from_url(REDIS_URL)
    try:
        await store.duties.claim("summary", CONVERSATION, "host:1:a", 60.0)
        keys = [key.decode() async for key in raw.scan_iter(match=f"{redis_prefix}*")]
        # The conversation id is the key's hash tag: on a Redis Cluster, the duty lives with the conversation.
        assert keys == [f"{redis_prefix}duty:summary:{{{CONVERSATION}}}"]
        assert await raw.get(keys[0]) == b"host:1:a"
        assert 50_000 < await raw.pttl(keys[0]) <= 60_000
    finally:
        await raw.aclose()
        await store.aclose()
