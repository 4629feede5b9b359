"""RedisStore beyond the contract: round trips per turn, key layout, outages, durability warnings.

Tests that stop Redis or change its configuration start their own `redis-server` on a spare
port; the shared server on 6379 is only used with a random key prefix.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from urllib.parse import urlparse

import fakeredis
import pytest
import redis.asyncio as aioredis

from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import StoreUnavailable
from nono.core.models import Message
from nono.core.store.base import SCHEMA_VERSION
from nono.core.store.redis_store import RedisStore
from tests.support.redis_server import RedisServer

SHARED_URL = os.environ.get("NONO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
USER = "discord:1234"


@pytest.fixture
async def own_redis(tmp_path: Path):
    """Start private redis-servers: `await own_redis(*options)`; every one is stopped afterwards."""
    servers: list[RedisServer] = []

    async def start(*options: str) -> RedisServer:
        server = RedisServer(tmp_path, *options)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


class CountingProxy:
    """A TCP relay in front of Redis that counts round trips on the wire.

    A round trip starts whenever the client sends bytes after having received a reply (or on a
    fresh connection): a pipeline sent in several segments before any reply counts once.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.round_trips = 0
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop accepting; relays end by themselves once their client has disconnected."""
        self._server.close()
        await self._server.wait_closed()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        server_r, server_w = await asyncio.open_connection(*self.target)
        replied = [True]

        async def upstream() -> None:
            while data := await client_r.read(65536):
                if replied[0]:
                    self.round_trips += 1
                    replied[0] = False
                server_w.write(data)
                await server_w.drain()
            server_w.close()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                replied[0] = True
                client_w.write(data)
                await client_w.drain()
            client_w.close()

        try:
            await asyncio.gather(upstream(), downstream())
        finally:
            server_w.close()
            client_w.close()


@pytest.fixture
async def counted_store(redis_prefix: str):
    """A RedisStore on the shared Redis whose every byte passes through a CountingProxy."""
    target = urlparse(SHARED_URL)
    proxy = CountingProxy(target.hostname or "127.0.0.1", target.port or 6379)
    port = await proxy.start()
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}{target.path}", prefix=redis_prefix)
    yield store, proxy
    await store.aclose()
    await proxy.close()


async def test_a_whole_turn_costs_two_round_trips(counted_store, registry, fake_llm):
    store, proxy = counted_store
    chat = ChatService(store, fake_llm, registry, ChatLimits())
    await store.migrate()  # start-up's work (connecting, the schema check) outside the counted turns

    for n, answer in enumerate(["Hello there.", "Still here."]):
        fake_llm.enqueue(answer)
        before = proxy.round_trips
        reply = await chat.reply(USER, f"message {n}")
        assert reply.text == answer
        assert proxy.round_trips - before == 2  # load_context + append_turn

    assert [m.content for m in await store.history(USER, 10)] == [
        "message 0",
        "Hello there.",
        "message 1",
        "Still here.",
    ]
    before = proxy.round_trips
    await store.append_turn(USER, "assistant", [Message("user", "x", 1.0), Message("assistant", "y", 2.0)], 3.0)
    assert proxy.round_trips - before == 1


async def test_keys_follow_the_documented_layout(redis_prefix: str):
    store = RedisStore.from_url(SHARED_URL, prefix=redis_prefix, history_ttl=600)
    raw = aioredis.from_url(SHARED_URL, decode_responses=True)
    try:
        await store.append_turn(USER, "pirate", [Message("user", "hi", 10.0), Message("assistant", "arr", 11.0)], 12.0)
        await store.touch(USER, "assistant", 13.0, {"lang": "fr", "tags": ["a", "b"]})

        session_key = f"{redis_prefix}conv:{{{USER}}}"
        history_key = f"{redis_prefix}conv:{{{USER}}}:history"
        metadata_key = f"{redis_prefix}conv:{{{USER}}}:metadata"
        index_key = f"{redis_prefix}conversations:active"
        version_key = f"{redis_prefix}schema_version"
        assert sorted([k async for k in raw.scan_iter(match=f"{redis_prefix}*")]) == sorted(
            [session_key, history_key, metadata_key, index_key, version_key]
        )
        assert await raw.get(version_key) == str(SCHEMA_VERSION)
        assert await raw.hgetall(session_key) == {
            "conversation_id": USER,
            "persona": "pirate",
            "created_at": "12.0",
            "last_activity": "13.0",
            "message_count": "2",
        }
        assert await raw.hgetall(metadata_key) == {"lang": '"fr"', "tags": '["a","b"]'}
        assert [json.loads(item)["content"] for item in await raw.lrange(history_key, 0, -1)] == ["hi", "arr"]
        assert await raw.zscore(index_key, USER) == 13.0
        for key in (session_key, history_key, metadata_key):
            assert 0 < await raw.ttl(key) <= 600
    finally:
        await raw.aclose()
        await store.aclose()


async def test_without_history_ttl_nothing_expires(redis_store: RedisStore, redis_prefix: str):
    await redis_store.append_turn(USER, "assistant", [Message("user", "hi", 1.0)], 2.0)
    async with aioredis.from_url(SHARED_URL) as raw:
        assert await raw.ttl(f"{redis_prefix}conv:{{{USER}}}") == -1
        assert await raw.ttl(f"{redis_prefix}conv:{{{USER}}}:history") == -1


async def test_index_entries_of_vanished_sessions_are_pruned_when_seen():
    client = fakeredis.FakeAsyncRedis()
    store = RedisStore(client, prefix="t:")
    for n in range(3):
        await store.touch(f"discord:{n}", "assistant", 100.0 + n)
    await client.delete("t:conv:{discord:1}")  # as if evicted behind our back

    page = await store.active_page(0)
    assert [s.user_id for s in page.sessions] == ["discord:2", "discord:0"] and page.total == 2
    assert await client.zscore("t:conversations:active", "discord:1") is None
    assert await store.count_active(0) == 2
    await store.aclose()


async def test_works_with_a_client_that_decodes_responses():
    store = RedisStore(fakeredis.FakeAsyncRedis(decode_responses=True), prefix="t:")
    odd = "lone \ud800 surrogate, NUL \x00, emoji 🦜"
    await store.append_turn(USER, "pirate", [Message("user", odd, 1.0, {"k": odd})], 2.0)
    await store.touch(USER, "assistant", 3.0, {"nick": odd})

    session, window, *_ = await store.load_context(USER, 5)
    assert session.persona == "pirate" and session.metadata == {"nick": odd}
    assert window == [Message("user", odd, 1.0, {"k": odd})]
    assert [s.user_id for s in (await store.active_page(0)).sessions] == [USER]
    await store.aclose()


async def test_an_outage_is_a_clear_error_and_the_store_recovers_by_itself(own_redis, caplog):
    server = await own_redis()
    store = RedisStore.from_url(server.url, prefix="nono:")
    try:
        await store.append_turn(USER, "pirate", [Message("user", "before", 1.0)], 1.0)

        server.stop()
        with caplog.at_level(logging.WARNING, logger="nono.core.store.redis_store"):
            for attempt in (
                store.ping(),
                store.load_context(USER, 20),
                store.get_session(USER),
                store.append_turn(USER, "pirate", [Message("user", "lost", 2.0)], 2.0),
            ):
                with pytest.raises(StoreUnavailable) as raised:
                    await attempt
                assert "temporarily unavailable" in str(raised.value)

            server.start()  # same port, empty (no persistence): the store must reconnect alone
            await store.append_turn(USER, "tutor", [Message("user", "after", 3.0)], 3.0)

        session, window, *_ = await store.load_context(USER, 20)
        assert session.persona == "tutor" and [m.content for m in window] == ["after"]
        events = [r.getMessage() for r in caplog.records]
        assert events.count("store_unavailable") == 1  # logged once per outage, not per request
        assert events.count("store_recovered") == 1
    finally:
        await store.aclose()


async def test_a_restart_between_requests_is_invisible(own_redis, registry, fake_llm):
    server = await own_redis()
    store = RedisStore.from_url(server.url)
    chat = ChatService(store, fake_llm, registry, ChatLimits())
    try:
        fake_llm.enqueue("first")
        await chat.reply(USER, "one")
        server.stop()
        server.start()  # the pooled connection is now stale

        fake_llm.enqueue("second")
        assert (await chat.reply(USER, "two")).text == "second"
        # The private server has no persistence, so only the turn after the restart remains.
        assert [m.content for m in await store.history(USER, 10)] == ["two", "second"]
    finally:
        await store.aclose()


async def test_a_turn_during_an_outage_tells_the_user_and_stores_nothing(own_redis, registry, fake_llm):
    server = await own_redis()
    store = RedisStore.from_url(server.url)
    chat = ChatService(store, fake_llm, registry, ChatLimits())
    try:
        server.stop()
        with pytest.raises(StoreUnavailable):
            await chat.reply(USER, "anyone there?")
        assert fake_llm.history == []  # the model was never asked

        server.start()
        fake_llm.enqueue("yes")
        assert (await chat.reply(USER, "anyone there?")).text == "yes"
    finally:
        await store.aclose()


async def test_durability_warnings_name_eviction_and_missing_persistence(own_redis):
    server = await own_redis("--maxmemory-policy", "allkeys-lru")
    store = RedisStore.from_url(server.url)
    admin = aioredis.from_url(server.url)
    try:
        warnings = await store.durability_warnings()
        assert len(warnings) == 2
        assert "allkeys-lru" in warnings[0] and "noeviction" in warnings[0]
        assert "persistence is off" in warnings[1] and "appendonly yes" in warnings[1]

        await admin.config_set("maxmemory-policy", "noeviction")
        await admin.config_set("save", "900 1")  # RDB snapshots alone count as persistence
        assert await store.durability_warnings() == []

        await admin.config_set("save", "")
        await admin.config_set("appendonly", "yes")
        assert await store.durability_warnings() == []
        await admin.config_set("appendonly", "no")  # else SIGTERM waits for the first AOF rewrite
    finally:
        await admin.aclose()
        await store.aclose()


async def test_durability_warnings_are_empty_when_config_is_forbidden(own_redis, caplog):
    server = await own_redis()
    async with aioredis.from_url(server.url) as admin:
        await admin.execute_command("ACL", "SETUSER", "bot", "on", ">secret", "~*", "+@all", "-config")
    store = RedisStore.from_url(f"redis://bot:secret@127.0.0.1:{server.port}/0")
    try:
        with caplog.at_level(logging.WARNING, logger="nono.core.store.redis_store"):
            assert await store.durability_warnings() == []
        assert [r.getMessage() for r in caplog.records] == ["redis_config_unreadable"]
        await store.ping()  # the restricted user can still do its job
    finally:
        await store.aclose()


async def test_durability_warnings_raise_store_unavailable_when_redis_is_down(own_redis):
    server = await own_redis()
    store = RedisStore.from_url(server.url)
    server.stop()
    try:
        with pytest.raises(StoreUnavailable):
            await store.durability_warnings()
    finally:
        await store.aclose()
