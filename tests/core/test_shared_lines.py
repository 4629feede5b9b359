"""Several processes on one Redis: each ChatService here stands for one process (its own lines, model, clock).

What holds in one process must hold across them: one conversation's turns answered one at a time in
arrival order, each prompt holding the turn before it; per-person limits counted once for all; a dead
or frozen holder releasing the conversation after its lease, and its late write refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, ConnectionPool

from nono.core.chat import ChatService
from nono.core.errors import Busy, RateLimited
from nono.core.limits import ChatLimits
from nono.core.llm.base import ChatMessage, GenerationOptions
from nono.core.llm.fake import FakeLLM
from nono.core.store.lines import Fence, Seat, SeatRequest, StaleFence, Waiting
from nono.core.store.redis_store import RedisStore
from tests.conftest import REDIS_URL

LEASE = 0.6


class EchoLLM(FakeLLM):
    """Answers `re: <the newest user message> (saw N)` after `delay`, N the messages in its prompt."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(count_tokens=lambda text: len(text) // 4 + 1)
        self.delay = delay
        self.prompts: list[list[str]] = []

    async def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncIterator[str]:
        said = [m.content for m in messages if m.role != "system"]
        self.prompts.append(said)
        if self.delay:
            await asyncio.sleep(self.delay)
        yield f"re: {said[-1]}"


@pytest.fixture
async def stores(redis_prefix: str):
    """Three stores on one Redis prefix: three processes' connections."""
    opened = [RedisStore.from_url(REDIS_URL, prefix=redis_prefix) for _ in range(3)]
    for store in opened:
        await store.migrate()  # started processes: none checks the schema on its first turn
    yield opened
    for store in opened:
        await store.aclose()


@pytest.fixture
async def processes(registry):
    """Build one ChatService per store (each a process); closed (seats freed, renewals stopped) at the end."""
    built: list[ChatService] = []

    def build(stores, limits: ChatLimits, delay: float = 0.0) -> list[ChatService]:
        chats = [ChatService(store, EchoLLM(delay), registry, limits) for store in stores]
        built.extend(chats)
        return chats

    yield build
    for chat in built:
        await chat.aclose()


async def drain(reply) -> str:
    async with reply:
        return "".join([chunk async for chunk in reply])


async def test_one_conversations_turns_sent_to_three_processes_are_answered_in_arrival_order(stores, processes):
    chats = processes(stores, ChatLimits(lock_lease=LEASE, max_context_messages=100), delay=0.02)
    replies = []
    for n in range(12):
        replies.append(asyncio.create_task(drain(chats[n % 3].stream("rest:alice", f"m{n}"))))
        await asyncio.sleep(0.005)  # arrival order: each process has taken its seat before the next message
    other = await asyncio.wait_for(drain(chats[1].stream("rest:bob", "hello")), timeout=2)

    answers = await asyncio.gather(*replies)

    assert other == "re: hello", "another conversation never waits for this one"
    assert answers == [f"re: m{n}" for n in range(12)]
    history = await chats[0].history("rest:alice", 100)
    assert [m.content for m in history] == [text for n in range(12) for text in (f"m{n}", f"re: m{n}")]
    # each prompt held every turn before it: nobody read while another was answering
    seen = sorted(len(prompt) for chat in chats for prompt in chat.llm.prompts if prompt[-1].startswith("m"))
    assert seen == [2 * n + 1 for n in range(12)]


async def test_a_turn_costs_two_round_trips_and_one_process_never_sleeps_on_its_own_line(redis_prefix, processes):
    trips = 0

    class Counting(Connection):
        async def send_packed_command(self, command, check_health: bool = True) -> None:
            nonlocal trips
            head = bytes(command[0] if isinstance(command, list) else command)[:40]
            trips += not (b"HELLO" in head or b"CLIENT" in head)  # a new connection's handshake is not a turn's
            await super().send_packed_command(command, check_health)

    client = aioredis.Redis(connection_pool=ConnectionPool.from_url(REDIS_URL, connection_class=Counting))
    store = RedisStore(client, prefix=redis_prefix)
    try:
        (chat,) = processes([store], ChatLimits(lock_lease=LEASE))
        await drain(chat.stream("rest:alice", "warm up"))  # the first call also checks the schema
        trips = 0
        for n in range(3):
            assert await drain(chat.stream("rest:alice", f"one by one {n}")) == f"re: one by one {n}"
        one_by_one, trips = trips, 0
        replies = [chat.stream("rest:alice", f"m{n}") for n in range(5)]
        started = time.monotonic()
        answers = await asyncio.gather(*(drain(r) for r in replies))
        elapsed = time.monotonic() - started
    finally:
        await store.aclose()
        await client.connection_pool.disconnect()  # a pool passed in is not closed with its client

    assert one_by_one == 2 * 3, "the seat rides on the turn's read and its write"
    assert answers == [f"re: m{n}" for n in range(5)]
    # A turn that finds one of its own process ahead enters at once (arrival order), then reads when woken:
    # one more round trip, and no poll, no sleep. (One that enters after it was stored costs two.)
    assert 2 * 5 <= trips <= 2 + 3 * 4
    assert elapsed < LEASE


async def test_the_rate_limit_is_one_for_all_processes(stores, processes):
    chats = processes(stores, ChatLimits(lock_lease=LEASE, rate_limit_per_minute=4))
    for n in range(4):
        await drain(chats[n % 3].stream("rest:alice", f"m{n}"))

    for chat in chats:
        with pytest.raises(RateLimited) as refused:
            await drain(chat.stream("rest:alice", "one more"))
        assert 1 <= refused.value.retry_after <= 60
    assert await drain(chats[2].stream("rest:bob", "hi")) == "re: hi", "per person"
    assert len(await chats[0].history("rest:alice", 100)) == 8, "refused messages change nothing"


async def test_the_pending_cap_counts_what_a_person_has_waiting_in_every_process(stores, processes):
    chats = processes(stores, ChatLimits(lock_lease=LEASE, max_pending_per_user=2), delay=0.3)
    first = [asyncio.create_task(drain(chats[n].stream("rest:alice", f"m{n}"))) for n in range(3)]
    await asyncio.sleep(0.1)  # one answering, two waiting: the cap

    with pytest.raises(Busy):
        await drain(chats[0].stream("rest:alice", "too many"))
    assert await asyncio.gather(*first) == ["re: m0", "re: m1", "re: m2"]
    assert await drain(chats[1].stream("rest:alice", "now fine")) == "re: now fine"


async def test_a_dead_holder_releases_the_conversation_after_its_lease_and_no_other_waits(stores, processes):
    dead, alive = stores[0], stores[1]
    # A process took the head of alice's line, then died: nothing frees it, nothing renews it.
    held = await dead.load_context("rest:alice", 10, seat=SeatRequest(Seat("rest:alice", LEASE), time.time(), True))
    assert held.fence is not None
    (chat,) = processes([alive], ChatLimits(lock_lease=LEASE))

    assert await asyncio.wait_for(drain(chat.stream("rest:bob", "hi")), timeout=LEASE / 2) == "re: hi"
    started = time.monotonic()
    assert await asyncio.wait_for(drain(chat.stream("rest:alice", "still there?")), timeout=5) == "re: still there?"
    assert time.monotonic() - started >= LEASE / 2, "answered once the dead holder's lease ran out"


async def test_a_holder_frozen_past_its_lease_cannot_write_after_the_next_turn(stores, processes):
    frozen, alive = stores[0], stores[1]
    seat = SeatRequest(Seat("rest:alice", LEASE), time.time(), True)
    context = await frozen.load_context("rest:alice", 10, seat=seat)
    (chat,) = processes([alive], ChatLimits(lock_lease=LEASE))
    assert await asyncio.wait_for(drain(chat.stream("rest:alice", "next")), timeout=5) == "re: next"

    # It wakes up and writes with its old token: refused, nothing stored twice or out of order.
    late = [msg("user", "late question"), msg("assistant", "late answer")]
    with pytest.raises(StaleFence):
        await frozen.append_turn("rest:alice", "assistant", late, time.time(), fence=context.fence)
    assert [m.content for m in await chat.history("rest:alice", 10)] == ["next", "re: next"]


async def test_a_stale_token_is_refused_even_when_the_ticket_is_guessed(stores):
    store = stores[0]
    context = await store.load_context("rest:alice", 10, seat=SeatRequest(Seat("rest:alice", LEASE), time.time(), True))
    assert context.fence is not None
    forged = Fence(context.fence.ticket, context.fence.token + 1, "rest:alice")
    with pytest.raises(StaleFence):
        await store.append_turn("rest:alice", "assistant", [msg("user", "x")], time.time(), fence=forged)
    await store.append_turn("rest:alice", "assistant", [msg("user", "x")], time.time(), fence=context.fence)
    waiting = await store.load_context("rest:alice", 10, seat=SeatRequest(Seat("rest:alice", LEASE), time.time(), True))
    assert not isinstance(waiting, Waiting), "the write freed the head"


def msg(role: str, content: str):
    from nono.core.models import Message

    return Message(role, content, time.time())


async def test_a_turn_refused_by_another_processs_limits_says_so_before_it_runs(stores, processes):
    first, second = processes(stores[:2], ChatLimits(lock_lease=LEASE, rate_limit_per_minute=1))
    await drain(first.stream("rest:alice", "one"))

    reply = second.stream("rest:alice", "two")
    async with reply:
        # A caller that acts before the turn (REST's persona switch) learns of the refusal first.
        assert not await reply.admitted()
        with pytest.raises(RateLimited):
            await anext(reply)
    fresh = second.stream("rest:bob", "hi")
    async with fresh:
        assert await fresh.admitted()
        assert [chunk async for chunk in fresh] == ["re: hi"]


async def test_a_turn_whose_line_was_lost_with_nobody_ahead_still_stores_its_answer(stores):
    store = stores[0]
    context = await store.load_context("rest:alice", 10, seat=SeatRequest(Seat("rest:alice", LEASE), time.time(), True))
    # Redis restarted without the line (no persistence, or the last second of its AOF): nobody took the head.
    await store._redis.delete(store._keys.line("rest:alice"), store._keys.seats("rest:alice"))

    await store.append_turn("rest:alice", "assistant", [msg("user", "kept")], time.time(), fence=context.fence)
    assert [m.content for m in await store.history("rest:alice", 10)] == ["kept"]
