"""One contract for every store backend: SQLite, fakeredis and the real Redis on 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from nono.core.models import Message, Session
from nono.core.store import Store
from nono.core.store.redis_store import RedisStore
from nono.core.store.sqlite_store import SQLiteStore

ALICE = "discord:1"
BOB = "discord:12"  # alice's id is a prefix of bob's: keys must not collide
TTL = 2.0


def turn(i: int, at: float, **assistant_meta) -> list[Message]:
    """One stored exchange: the user's message and the reply."""
    return [
        Message("user", f"question {i}", at),
        Message("assistant", f"answer {i}", at + 0.5, {"persona": "assistant", **assistant_meta}),
    ]


async def fill(store: Store, user_id: str, turns: int, start: float = 1000.0) -> list[Message]:
    written: list[Message] = []
    for i in range(turns):
        messages = turn(i, start + 10 * i)
        await store.append_turn(user_id, "assistant", messages, start + 10 * i + 1)
        written += messages
    return written


def contents(messages: list[Message]) -> list[str]:
    return [m.content for m in messages]


async def test_a_new_user_has_nothing(store: Store):
    assert isinstance(store, Store)
    await store.ping()
    assert await store.get_session(ALICE) is None
    assert (await store.load_context(ALICE, 20))[:2] == (None, [])
    assert await store.history(ALICE, 20) == []
    assert await store.clear(ALICE) is False
    assert await store.count_active(0) == 0


async def test_touch_creates_the_session_then_only_marks_activity(store: Store):
    created = await store.touch(ALICE, "assistant", 100.0)
    assert created == Session(ALICE, "assistant", 100.0, 100.0, 0, {})

    touched = await store.touch(ALICE, "pirate", 250.5)
    assert touched == Session(ALICE, "assistant", 100.0, 250.5, 0, {})
    assert await store.get_session(ALICE) == touched


async def test_touch_merges_metadata(store: Store):
    await store.touch(ALICE, "assistant", 100.0, {"lang": "fr", "name": "Zoë 🦜"})
    await store.touch(ALICE, "assistant", 110.0, {"lang": "de", "tz": "Europe/Berlin"})
    await store.touch(ALICE, "assistant", 120.0)

    session = await store.get_session(ALICE)
    assert session.metadata == {"lang": "de", "name": "Zoë 🦜", "tz": "Europe/Berlin"}
    assert session.last_activity == 120.0


async def test_concurrent_metadata_merges_lose_nothing(store: Store):
    await store.append_turn(ALICE, "assistant", turn(0, 1.0), 2.0)

    async def tag(i: int) -> None:
        await store.touch(ALICE, "assistant", 10.0 + i, {f"key{i}": i})

    async def talk(i: int) -> None:
        await store.append_turn(ALICE, "assistant", turn(i, 50.0 + i), 50.5 + i)

    await asyncio.gather(*(tag(i) for i in range(12)), *(talk(i) for i in range(1, 9)))

    session = await store.get_session(ALICE)
    assert session.metadata == {f"key{i}": i for i in range(12)}
    assert session.message_count == 18


async def test_set_persona_creates_or_switches_and_keeps_history(store: Store):
    assert (await store.set_persona(BOB, "tutor", 50.0)).persona == "tutor"

    written = await fill(store, ALICE, 2)
    switched = await store.set_persona(ALICE, "pirate", 2000.0)

    assert switched.persona == "pirate"
    assert switched.last_activity == 2000.0
    assert switched.message_count == 4
    assert switched.created_at == 1001.0
    assert contents(await store.history(ALICE, 10)) == contents(written)
    assert (await store.get_session(ALICE)).persona == "pirate"


async def test_append_turn_creates_the_session_with_the_persona_it_is_given(store: Store):
    session = await store.append_turn(ALICE, "pirate", turn(0, 10.0), 11.0)
    assert session == Session(ALICE, "pirate", 11.0, 11.0, 2, {})

    await store.set_persona(BOB, "tutor", 5.0)
    kept = await store.append_turn(BOB, "pirate", turn(0, 10.0), 12.0)
    assert kept.persona == "tutor"  # the persona argument only names a session it creates
    assert await store.get_session(BOB) == kept


async def test_load_context_returns_only_the_newest_window_oldest_first(store: Store):
    written = await fill(store, ALICE, 5)

    session, window, *_ = await store.load_context(ALICE, 3)

    assert session == Session(ALICE, "assistant", 1001.0, 1041.0, 10, {})
    assert window == written[-3:]
    assert [m.seq for m in window] == [7, 8, 9]

    _, everything, *_ = await store.load_context(ALICE, 100)
    assert everything == written
    assert [m.seq for m in everything] == list(range(10))
    assert (await store.load_context(ALICE, 0))[:2] == (session, [])


async def test_history_pages_backwards_by_seq(store: Store):
    written = await fill(store, ALICE, 7)  # 14 messages, seq 0..13

    newest = await store.history(ALICE, 5)
    assert [m.seq for m in newest] == [9, 10, 11, 12, 13]
    assert newest == written[9:]
    assert [m.seq for m in await store.history(ALICE, 5, before=9)] == [4, 5, 6, 7, 8]
    assert [m.seq for m in await store.history(ALICE, 5, before=4)] == [0, 1, 2, 3]
    assert await store.history(ALICE, 5, before=0) == []
    assert await store.history(ALICE, 0) == []
    assert [m.seq for m in await store.history(ALICE, 3, before=99)] == [11, 12, 13]

    pages, before = [], None
    while page := await store.history(ALICE, 4, before):
        pages = page + pages
        before = page[0].seq
    assert pages == written


async def test_clear_forgets_everything_and_history_restarts_at_zero(store: Store):
    await fill(store, ALICE, 3)
    await fill(store, BOB, 1)

    assert await store.clear(ALICE) is True

    assert await store.get_session(ALICE) is None
    assert (await store.load_context(ALICE, 20))[:2] == (None, [])
    assert await store.history(ALICE, 20) == []
    assert [s.user_id for s in (await store.active_page(0)).sessions] == [BOB]
    assert await store.count_active(0) == 1
    assert await store.clear(ALICE) is False

    session = await store.append_turn(ALICE, "pirate", turn(9, 5000.0), 5001.0)
    assert session == Session(ALICE, "pirate", 5001.0, 5001.0, 2, {})
    assert [m.seq for m in await store.history(ALICE, 20)] == [0, 1]


async def test_active_sessions_are_most_recent_first_and_paged(store: Store):
    users = [f"telegram:{n}" for n in range(5)]
    for n, user in enumerate(users):
        await store.touch(user, "assistant", 100.0 * (n + 1))  # activity 100..500

    recent, total = await store.active_page(since=250.0)
    assert [s.user_id for s in recent] == ["telegram:4", "telegram:3", "telegram:2"] and total == 3
    assert recent[0] == Session("telegram:4", "assistant", 500.0, 500.0, 0, {})
    await store.touch("telegram:4", "assistant", 500.0, {"nick": "Ann", "langs": ["en", "fr"]})
    assert (await store.active_page(250.0, limit=1)).sessions[0].metadata == {"nick": "Ann", "langs": ["en", "fr"]}
    assert [s.user_id for s in (await store.active_page(250.0, offset=1, limit=1)).sessions] == ["telegram:3"]
    assert await store.active_page(250.0, offset=3) == ([], 3)
    assert await store.active_page(250.0, limit=0) == ([], 3)
    assert await store.count_active(250.0) == 3
    assert await store.count_active(500.0) == 1  # `since` is inclusive
    assert await store.count_active(501.0) == 0

    await store.append_turn("telegram:0", "assistant", turn(0, 590.0), 600.0)
    assert [s.user_id for s in (await store.active_page(0.0, limit=2)).sessions] == ["telegram:0", "telegram:4"]
    assert await store.count_active(0.0) == 5


async def test_message_metadata_and_timestamps_round_trip(store: Store):
    meta = {"incomplete": True, "persona": "pirate", "tokens": 17, "nested": {"ids": [1, 2], "ok": None}}
    messages = [
        Message("user", "hi", 1_700_000_000.123456, {"platform_message_id": "98765"}),
        Message("assistant", "Ahoy, matey, I was cut", 1_700_000_001.654321, meta),
    ]
    await store.append_turn(ALICE, "pirate", messages, 1_700_000_002.0)

    stored = await store.history(ALICE, 10)
    assert stored == messages
    assert [m.metadata for m in stored] == [m.metadata for m in messages]
    assert stored[1].incomplete and not stored[0].incomplete
    assert [m.timestamp for m in stored] == [1_700_000_000.123456, 1_700_000_001.654321]


ODD_TEXTS = [
    "emoji 🏴‍☠️ 👩🏽‍💻 and CJK 日本語",
    "NUL\x00inside\x00",
    "lone surrogate \ud800 here and \udfff there",
    "a backslash then a literal escape: \\ud800 \\u0000",
    "right-to-left \u202e override, zero width \u200b",
    "",
    'quotes " \' and JSON-ish {"role": "system"}',
]


async def test_odd_unicode_is_stored_exactly(store: Store):
    messages = [Message("user" if i % 2 == 0 else "assistant", text, 10.0 + i) for i, text in enumerate(ODD_TEXTS)]
    messages.append(Message("assistant", "odd metadata", 20.0, {"note": "\ud83d alone", "k\x00": "🦜"}))
    await store.append_turn(ALICE, "assistant", messages, 30.0)
    await store.touch(ALICE, "assistant", 31.0, {"nick": "\udc80 odd", "nul": "a\x00b"})

    _, window, *_ = await store.load_context(ALICE, 50)
    assert contents(window) == contents(messages)
    assert window[-1].metadata == {"note": "\ud83d alone", "k\x00": "🦜"}
    assert (await store.get_session(ALICE)).metadata == {"nick": "\udc80 odd", "nul": "a\x00b"}


async def test_users_are_isolated(store: Store):
    odd_id = "rest:a}b{c"  # braces inside an id must not confuse the key layout
    alice_turns = await fill(store, ALICE, 2)
    bob_turns = await fill(store, BOB, 3, start=3000.0)
    await store.set_persona(odd_id, "tutor", 4000.0)

    assert contents(await store.history(ALICE, 50)) == contents(alice_turns)
    assert contents(await store.history(BOB, 50)) == contents(bob_turns)
    assert (await store.get_session(odd_id)).persona == "tutor"
    await store.clear(BOB)
    assert contents(await store.history(ALICE, 50)) == contents(alice_turns)
    assert (await store.get_session(ALICE)).message_count == 4
    assert await store.history(odd_id, 50) == []


async def test_concurrent_turns_of_one_user_never_interleave(store: Store):
    async def one(i: int) -> None:
        await store.append_turn(ALICE, "assistant", turn(i, 100.0 + i), 100.5 + i)

    await asyncio.gather(*(one(i) for i in range(20)))

    stored = await store.history(ALICE, 100)
    assert [m.seq for m in stored] == list(range(40))
    pairs = [(stored[k].content, stored[k + 1].content) for k in range(0, 40, 2)]
    assert all(q.replace("question", "answer") == a for q, a in pairs)
    assert sorted(int(q.split()[1]) for q, _ in pairs) == list(range(20))
    assert (await store.get_session(ALICE)).message_count == 40


@pytest.fixture(params=["sqlite", "fakeredis", "redis", "cluster"])
def ttl_backend(request) -> tuple[str, str]:
    """Backend name and key prefix; for real Redis (and the cluster) the conftest prefix deletes our keys afterwards."""
    if request.param in ("redis", "cluster"):
        return request.param, request.getfixturevalue(f"{request.param}_prefix")
    return request.param, f"test:{uuid.uuid4().hex}:"


OpenStore = Callable[..., Store]


@pytest.fixture
async def open_ttl_store(
    ttl_backend: tuple[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[OpenStore]:
    """`open_ttl_store(history_ttl, clock=...)`: a store of each backend; all are closed afterwards."""
    kind, prefix = ttl_backend
    opened: list[Store] = []

    def open_store(history_ttl: float, clock: Callable[[], float] = time.time) -> Store:
        store: Store
        if kind == "sqlite":
            store = SQLiteStore(tmp_path / f"ttl{len(opened)}.sqlite3", history_ttl=history_ttl, clock=clock)
        elif kind == "fakeredis":
            import fakeredis

            store = RedisStore(fakeredis.FakeAsyncRedis(), prefix=prefix, history_ttl=history_ttl, clock=clock)
        elif kind == "cluster":
            url = request.getfixturevalue("redis_cluster").url
            store = RedisStore.from_url(url, prefix=prefix, history_ttl=history_ttl, clock=clock, cluster=True)
        else:
            url = os.environ.get("NONO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
            store = RedisStore.from_url(url, prefix=prefix, history_ttl=history_ttl, clock=clock)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.aclose()


@pytest.fixture
def ttl_store(open_ttl_store: OpenStore) -> Store:
    """A store of each backend whose histories expire after TTL seconds without activity."""
    return open_ttl_store(TTL)


async def test_history_ttl_forgets_idle_users_and_activity_keeps_them(ttl_store: Store):
    # Both users write now; only alice is active again before the TTL runs out.
    await ttl_store.append_turn(ALICE, "pirate", turn(0, time.time()), time.time())
    await ttl_store.append_turn(BOB, "tutor", turn(0, time.time()), time.time())
    await asyncio.sleep(TTL * 0.7)
    await ttl_store.touch(ALICE, "assistant", time.time())
    await asyncio.sleep(TTL * 0.4)  # bob: 1.1 × TTL idle; alice: 0.4 × TTL

    assert await ttl_store.get_session(BOB) is None
    assert (await ttl_store.load_context(BOB, 20))[:2] == (None, [])
    assert await ttl_store.history(BOB, 20) == []
    assert [s.user_id for s in (await ttl_store.active_page(0)).sessions] == [ALICE]
    assert await ttl_store.count_active(0) == 1

    session, window, *_ = await ttl_store.load_context(ALICE, 20)
    assert session.persona == "pirate" and contents(window) == ["question 0", "answer 0"]

    reborn = await ttl_store.append_turn(BOB, "assistant", turn(1, time.time()), time.time())
    assert reborn.persona == "assistant" and reborn.message_count == 2
    assert [m.seq for m in await ttl_store.history(BOB, 20)] == [0, 1]


class FakeClock:
    """A clock that only moves when the test sets `now`."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_expiry_is_judged_by_the_clock_the_store_is_given(open_ttl_store: OpenStore):
    # Activity at t = 1000..1030 is decades old by the wall clock: only the injected clock keeps it live.
    clock = FakeClock(1050.0)
    store = open_ttl_store(60.0, clock=clock)
    await store.append_turn(ALICE, "pirate", turn(0, 990.0), 1000.0)
    await store.touch(BOB, "tutor", 1030.0)

    session = await store.get_session(ALICE)
    assert session is not None and session.persona == "pirate"
    assert contents(await store.history(ALICE, 20)) == ["question 0", "answer 0"]
    assert await store.count_active(0) == 2

    clock.now = 1070.0  # alice has been idle 70 s, longer than the TTL; bob 40 s
    assert await store.count_active(0) == 1
    assert [s.user_id for s in (await store.active_page(0)).sessions] == [BOB]

    clock.now = 1100.0
    assert await store.count_active(0) == 0
    assert await store.active_page(0) == ([], 0)
