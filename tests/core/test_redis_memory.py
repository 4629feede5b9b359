"""RedisStore's long-term memory beyond the contract: key names, TTLs, round trips, erasure leaving no trace.

The contract (tests/core/test_store_memory_contract.py) says what every backend remembers; this file
checks how Redis keeps it: the summary and facts keys beside the conversation's others, expiring with
them, read in the turn's one script, and gone for good when a person is erased.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlparse

import fakeredis
import pytest
import redis.asyncio as aioredis

from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import StoreUnavailable
from nono.core.models import Message
from nono.core.store.base import SCHEMA_VERSION, Fact, PersonRecord, Rewrite, Summary
from nono.core.store.redis_store import RedisStore
from tests.core.test_redis_store import CountingProxy
from tests.support.redis_server import RedisServer

SHARED_URL = os.environ.get("NONO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ALICE = "discord:1"
BOB = "discord:12"
CHANNEL = "discord:channel:9"
TTL_MS = 600_000
SECRET = "alice's secret: the cat is called Biscuit"

#: A store with HISTORY_TTL 600 s and a plain client on the same data (decoding replies), for one backend.
Opened = tuple[RedisStore, aioredis.Redis, str]


@pytest.fixture(params=["fakeredis", "redis"])
def backend(request) -> tuple[str, str]:
    """Backend name and key prefix; for real Redis the conftest prefix deletes our keys afterwards."""
    if request.param == "redis":
        return "redis", request.getfixturevalue("redis_prefix")
    return "fakeredis", f"test:{uuid.uuid4().hex}:"


@pytest.fixture
async def opened(backend: tuple[str, str]) -> AsyncIterator[Opened]:
    kind, prefix = backend
    if kind == "fakeredis":
        server = fakeredis.FakeServer()
        store = RedisStore(fakeredis.FakeAsyncRedis(server=server), prefix=prefix, history_ttl=TTL_MS / 1000)
        raw = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    else:
        store = RedisStore.from_url(SHARED_URL, prefix=prefix, history_ttl=TTL_MS / 1000)
        raw = aioredis.from_url(SHARED_URL, decode_responses=True)
    yield store, raw, prefix
    await store.aclose()
    await raw.aclose()


def keys_of(prefix: str, conversation_id: str) -> dict[str, str]:
    base = f"{prefix}conv:{{{conversation_id}}}"
    return {
        "session": base, "history": f"{base}:history", "metadata": f"{base}:metadata",
        "summary": f"{base}:summary", "facts": f"{base}:facts",
    }  # fmt: skip


def said(who: str, text: str, at: float) -> Message:
    return Message("user", text, at, speaker_id=who, speaker_name="someone")


def reply(text: str, at: float) -> Message:
    return Message("assistant", text, at, {"persona": "assistant"})


async def summarize(store: RedisStore, conversation_id: str, text: str = "they talked") -> None:
    session = await store.get_session(conversation_id)
    stored = await store.get_summary(conversation_id)
    revision = 0 if stored is None else stored.revision
    summary = Summary(text, 1, "smollm2", 10.0)
    assert await store.put_summary(conversation_id, summary, revision=revision, epoch=session.created_at)


async def everything(raw: aioredis.Redis, prefix: str) -> dict[str, str]:
    """Every key under `prefix` with its whole value as text, whatever its type."""
    read = {"string": raw.get, "list": lambda k: raw.lrange(k, 0, -1), "hash": raw.hgetall}
    read |= {"zset": lambda k: raw.zrange(k, 0, -1, withscores=True)}
    found = {}
    async for key in raw.scan_iter(match=f"{prefix}*"):
        found[key] = json.dumps(await read[await raw.type(key)](key), ensure_ascii=False)
    return found


async def test_summary_and_facts_live_beside_the_conversation_under_its_hash_tag(opened: Opened):
    store, raw, prefix = opened
    await store.append_turn(ALICE, "assistant", [said(ALICE, "hi", 1.0), reply("hey", 2.0)], 3.0)
    await store.add_fact(ALICE, Fact("k1", "likes tea", 4.0, ALICE), "assistant", 4.0, 5)
    await summarize(store, ALICE, text='said "revision":7 on purpose')

    keys = keys_of(prefix, ALICE)
    assert sorted(await everything(raw, prefix)) == sorted(
        [keys["session"], keys["history"], keys["summary"], keys["facts"],
         f"{prefix}conversations:active", f"{prefix}schema_version"]
    )  # fmt: skip
    assert await raw.get(f"{prefix}schema_version") == str(SCHEMA_VERSION)
    assert json.loads(await raw.get(keys["summary"])) == {
        "text": 'said "revision":7 on purpose', "covers": 1, "model": "smollm2", "created_at": 10.0, "revision": 1,
    }  # fmt: skip
    assert [json.loads(item) for item in await raw.lrange(keys["facts"], 0, -1)] == [
        {"id": "k1", "text": "likes tea", "created_at": 4.0, "author": ALICE}
    ]
    # The script reads the revision by pattern; a summary's own text cannot fool it.
    epoch = (await store.get_session(ALICE)).created_at
    assert not await store.put_summary(ALICE, Summary("x", 1, "m", 1.0), revision=7, epoch=epoch)
    assert await store.put_summary(ALICE, Summary("x", 1, "m", 1.0), revision=1, epoch=epoch)


Write = Callable[[RedisStore], Awaitable[object]]
WRITES: dict[str, Write] = {
    "append_turn": lambda s: s.append_turn(ALICE, "assistant", [said(ALICE, "more", 50.0)], 50.0),
    "touch": lambda s: s.touch(ALICE, "assistant", 50.0, {"k": 1}),
    "set_persona": lambda s: s.set_persona(ALICE, "pirate", 50.0),
    "add_fact": lambda s: s.add_fact(ALICE, Fact("k9", "more", 50.0, ALICE), "assistant", 50.0, 10),
    "put_summary": lambda s: s.put_summary(ALICE, Summary("s", 1, "m", 50.0), revision=1, epoch=3.0),
    "erase_speaker": lambda s: s.erase_speaker(ALICE, BOB),
    "rewrite": lambda s: s.rewrite(Rewrite(facts={ALICE: [Fact("k7", "new", 50.0, ALICE)]}), 50.0),
}


@pytest.mark.parametrize("write", list(WRITES))
async def test_every_write_refreshes_the_ttl_of_every_key_of_the_conversation(opened: Opened, write: str):
    store, raw, prefix = opened
    await store.append_turn(ALICE, "assistant", [said(ALICE, "hi", 1.0), said(BOB, "yo", 2.0)], 3.0)
    await store.touch(ALICE, "assistant", 3.0, {"lang": "fr"})
    await store.add_fact(ALICE, Fact("k1", "likes tea", 3.0, ALICE), "assistant", 3.0, 10)
    await summarize(store, ALICE)
    keys = keys_of(prefix, ALICE).values()
    for key in keys:
        assert 0 < await raw.pttl(key) <= TTL_MS
        await raw.pexpire(key, 5_000)  # as if time had passed

    await WRITES[write](store)

    for key in keys:
        assert 5_000 < await raw.pttl(key) <= TTL_MS, key


async def test_deleting_facts_keeps_their_ttl(opened: Opened):
    store, raw, prefix = opened
    for fact_id in ("k1", "k2"):
        await store.add_fact(ALICE, Fact(fact_id, "note", 1.0, ALICE), "assistant", 1.0, 10)

    assert await store.delete_facts(ALICE, ["k1"]) == 1
    assert 0 < await raw.pttl(keys_of(prefix, ALICE)["facts"]) <= TTL_MS


async def test_a_rewritten_conversation_keeps_its_keys_expiring(opened: Opened):
    store, raw, prefix = opened
    await store.append_turn(ALICE, "assistant", [said(ALICE, "hi", 1.0)], 2.0)
    session = await store.get_session(ALICE)
    change = Rewrite(conversations={ALICE: (session, [])}, facts={ALICE: [Fact("k1", "n", 1.0, ALICE)]})

    await store.rewrite(change, 5.0)

    for name, key in keys_of(prefix, ALICE).items():
        if name not in ("history", "metadata"):  # an empty list or hash is no key at all
            assert 0 < await raw.pttl(key) <= TTL_MS, name


async def test_erasing_a_person_or_clearing_leaves_none_of_their_words_in_any_key(opened: Opened):
    store, raw, prefix = opened
    await store.append_turn(CHANNEL, "assistant", [said(BOB, "hello all", 1.0), reply("hi bob", 2.0)], 3.0)
    await store.append_turn(CHANNEL, "assistant", [said(ALICE, SECRET, 4.0), reply(f"noted: {SECRET}", 5.0)], 6.0)
    await store.add_fact(CHANNEL, Fact("k1", SECRET, 7.0, ALICE), "assistant", 7.0, 10)
    await summarize(store, CHANNEL, text=f"bob greeted; {SECRET}")
    await store.append_turn(ALICE, "assistant", [said(ALICE, SECRET, 8.0), reply(SECRET, 9.0)], 10.0)
    await store.add_fact(ALICE, Fact("k2", SECRET, 11.0, ALICE), "assistant", 11.0, 10)
    await summarize(store, ALICE, text=SECRET)

    assert await store.conversations_of(ALICE) == [ALICE, CHANNEL]
    for conversation_id in await store.conversations_of(ALICE):
        await store.erase_speaker(conversation_id, ALICE)
    await store.clear(ALICE)

    stored = await everything(raw, prefix)
    assert [key for key, value in stored.items() if "Biscuit" in value] == []
    assert not any(key.endswith(f"{{{ALICE}}}") or f"{{{ALICE}}}:" in key for key in stored)
    assert "hello all" in stored[keys_of(prefix, CHANNEL)["history"]]  # bob's words stay


async def test_load_context_reads_the_memory_in_the_same_round_trip(redis_prefix: str, registry, fake_llm):
    target = urlparse(SHARED_URL)
    proxy = CountingProxy(target.hostname or "127.0.0.1", target.port or 6379)
    port = await proxy.start()
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}{target.path}", prefix=redis_prefix, history_ttl=600)
    try:
        await store.append_turn(ALICE, "assistant", [said(ALICE, "hi", 1.0), reply("hey", 2.0)], 3.0)
        await store.add_fact(ALICE, Fact("k1", "likes tea", 4.0, ALICE), "assistant", 4.0, 5)
        await summarize(store, ALICE)
        await store.rewrite(Rewrite(people={"telegram:5": PersonRecord("telegram:5", ALICE, (ALICE,))}), 5.0)

        for conversation_id, trips in ((ALICE, 1), ("telegram:5", 2)):  # a linked person: one hop more
            before = proxy.round_trips
            context = await store.load_context(conversation_id, 20)
            assert proxy.round_trips - before == trips
            assert context.summary is not None and [f.id for f in context.facts] == ["k1"]

        chat = ChatService(store, fake_llm, registry, ChatLimits())
        fake_llm.enqueue("Tea, then.")
        before = proxy.round_trips
        assert (await chat.reply(ALICE, "what do I like?")).text == "Tea, then."
        assert proxy.round_trips - before == 2  # load_context + append_turn, memory or not
    finally:
        await store.aclose()
        await proxy.close()


async def test_erasing_while_people_keep_talking_loses_none_of_their_turns(opened: Opened):
    store, _, _ = opened
    for i in range(5):
        await store.append_turn(CHANNEL, "assistant", [said(ALICE, f"a{i}", 1.0), reply(f"r{i}", 1.5)], 2.0)

    async def bob(i: int) -> None:
        await store.append_turn(CHANNEL, "assistant", [said(BOB, f"b{i}", 10.0 + i), reply(f"rb{i}", 10.5)], 11.0)

    erased, *_ = await asyncio.gather(store.erase_speaker(CHANNEL, ALICE), *(bob(i) for i in range(20)))

    assert erased.messages == 10
    kept = await store.history(CHANNEL, 100)
    assert sorted(m.content for m in kept if m.role == "user") == sorted(f"b{i}" for i in range(20))
    assert [m.seq for m in kept] == list(range(40))
    assert (await store.get_session(CHANNEL)).message_count == 40


async def test_schema_1_keys_become_schema_2_without_moving_anything(opened: Opened):
    store, raw, prefix = opened
    await store.append_turn(ALICE, "assistant", [said(ALICE, "hi", 1.0)], 2.0)
    await raw.set(f"{prefix}schema_version", 1)
    before = await everything(raw, prefix)

    assert await store.migrate() == 1
    assert await store.migrate() == SCHEMA_VERSION
    after = await everything(raw, prefix)
    assert after.pop(f"{prefix}schema_version") == json.dumps(str(SCHEMA_VERSION))
    before.pop(f"{prefix}schema_version")
    assert after == before


async def test_the_memory_verbs_say_redis_is_unavailable_when_it_is_down(tmp_path: Path):
    server = RedisServer(tmp_path).start()
    store = RedisStore.from_url(server.url)
    try:
        await store.migrate()
        server.stop()
        for attempt in (
            store.get_summary(ALICE),
            store.put_summary(ALICE, Summary("s", 1, "m", 1.0), revision=0, epoch=1.0),
            store.facts(ALICE),
            store.add_fact(ALICE, Fact("k1", "n", 1.0, ALICE), "assistant", 1.0, 5),
            store.delete_facts(ALICE, ["k1"]),
            store.conversations_of(ALICE),
            store.erase_speaker(CHANNEL, ALICE),
        ):
            with pytest.raises(StoreUnavailable):
                await attempt
    finally:
        server.stop()
        await store.aclose()


async def test_finding_a_person_looks_only_under_the_store_own_prefix():
    server = fakeredis.FakeServer()
    odd = RedisStore(fakeredis.FakeAsyncRedis(server=server), prefix="p[1]*:")  # glob characters, taken literally
    other = RedisStore(fakeredis.FakeAsyncRedis(server=server), prefix="p1x:")  # which the unescaped glob would match
    try:
        await other.append_turn(CHANNEL, "assistant", [said(ALICE, "elsewhere", 1.0)], 2.0)
        assert await odd.conversations_of(ALICE) == []
        await odd.append_turn(CHANNEL, "assistant", [said(ALICE, "here", 1.0)], 2.0)
        assert await odd.conversations_of(ALICE) == [CHANNEL]
    finally:
        await odd.aclose()
        await other.aclose()
