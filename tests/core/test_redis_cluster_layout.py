"""The Redis key layout for Redis Cluster, as an operator meets it: older data still found, no index left growing."""

from __future__ import annotations

import json
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.cluster import RedisCluster

from nono.core.models import Message
from nono.core.store.base import SCHEMA_VERSION
from nono.core.store.inflight import InFlight, Lease, Progress, Settles
from nono.core.store.redis_inflight import PRUNE_AFTER
from nono.core.store.redis_store import RedisStore
from tests.conftest import REDIS_URL
from tests.core.test_migration import assert_nothing_lost
from tests.support.clock import ManualClock
from tests.support.legacy import REDIS_FIXTURE

ALICE = "telegram:1"


def flight(turn_id: str, owner: str = "host:1:a", started_at: float = 100.0) -> InFlight:
    question = Message("user", "what is a lease?", 100.0, {"message_id": 7}, None, ALICE, "Alice")
    return InFlight(turn_id, ALICE, "telegram", {"chat_id": 1}, question, owner, started_at)


def restore_key_by_key(client: Any, prefix: str) -> None:
    """The schema 0 dump under `prefix`, one key at a time (a cluster takes no transaction across slots)."""
    dump = json.loads(REDIS_FIXTURE.read_text(encoding="utf-8"))
    for key, entry in dump["keys"].items():
        target, kind, value = prefix + key.removeprefix(dump["prefix"]), entry["type"], entry["value"]
        if kind == "hash":
            client.hset(target, mapping=value)
        elif kind == "list":
            client.rpush(target, *value)
        elif kind == "zset":
            client.zadd(target, {member: score for member, score in value})
        else:
            client.set(target, value)


async def test_schema_0_data_on_a_cluster_migrates_losing_nothing(redis_cluster, cluster_prefix):
    client = RedisCluster.from_url(redis_cluster.url)
    restore_key_by_key(client, cluster_prefix)
    client.close()
    for found in (0, SCHEMA_VERSION):
        store = RedisStore.from_url(redis_cluster.url, prefix=cluster_prefix, cluster=True)
        try:
            assert await store.migrate() == found
            await assert_nothing_lost(store)
        finally:
            await store.aclose()


async def test_replies_in_flight_recorded_before_the_cluster_layout_are_still_swept(redis_prefix):
    # What the previous Nono left after a kill -9: every record in one `inflight` hash, leases in another.
    record = flight("old1", owner="dead")
    raw = redis.Redis.from_url(REDIS_URL)
    raw.hset(f"{redis_prefix}inflight", mapping={
        "old1": json.dumps(record.to_data()), "old1:owner": "dead",
        "old1:progress": json.dumps(Progress(("41",), "Half an ans").to_data()),
    })  # fmt: skip
    raw.hset(f"{redis_prefix}inflight:owners", "dead", "50.0")
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        ((found, until),) = await store.inflight.records()
        assert (found.turn_id, found.progress.text, until) == ("old1", "Half an ans", 50.0)
        assert await store.inflight.claim("old1", "dead", Lease("sweeper", 500.0))
        answer = Message("assistant", "Half an ans", 501.0, {"persona": "assistant"})
        await store.append_turn(
            ALICE, "assistant", [record.question, answer], 501.0, settles=Settles("old1", "sweeper")
        )
        assert await store.inflight.records() == []
    finally:
        await store.aclose()
    assert not raw.exists(f"{redis_prefix}inflight", f"{redis_prefix}inflight:owners")
    raw.close()


async def test_the_sweep_index_forgets_settled_turns_and_drops_what_a_failed_write_left(redis_prefix):
    clock = ManualClock(now=1000.0)
    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix, clock=clock)
    raw = aioredis.Redis.from_url(REDIS_URL)
    turns = f"{redis_prefix}inflight:turns"
    try:
        for n in range(5):
            record = flight(f"t{n}", started_at=clock.now)
            await store.load_context(ALICE, 20, record, 2000.0)
            answer = Message("assistant", "A claim that runs out.", 1001.0, {"persona": "assistant"})
            await store.append_turn(
                ALICE, "assistant", [record.question, answer], 1001.0, settles=Settles(f"t{n}", record.owner)
            )
        # An entry without its record, as a write that failed half-way leaves it.
        await raw.hset(turns, "lost", f"{clock.now!r} {ALICE}")
        assert await store.inflight.records() == []
        assert await raw.hkeys(turns) == [b"lost"], "settled turns are gone; a recent unknown one may still land"
        clock.now += PRUNE_AFTER + 1
        assert await store.inflight.records() == []
        assert await raw.hkeys(turns) == []
    finally:
        await store.aclose()
        await raw.aclose()
