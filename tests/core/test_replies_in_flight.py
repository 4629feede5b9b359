"""Replies an adapter delivers: recorded in flight, stored once delivered, resolved after a crash."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from nono.core.chat import ChatService
from nono.core.errors import ModelUnavailable
from nono.core.limits import ChatLimits
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from nono.core.store import Store
from nono.core.store.inflight import InFlight, Progress
from tests.support.clock import ManualClock

ALICE = "telegram:1"
PLACE = {"chat_id": 1, "thread_id": None, "reply_to": 7}
LEASE = 30.0


class CountingStore:
    """The store, counting the calls a turn makes (each verb is one round trip on both backends)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[str] = []
        self.inflight = _Counted(store.inflight, self.calls)
        self.lines = store.lines and _Counted(store.lines, self.calls)

    def __getattr__(self, name: str) -> Any:
        return _Counted(self._store, self.calls).__getattr__(name)


class _Counted:
    def __init__(self, target: Any, calls: list[str]) -> None:
        self._target, self._calls = target, calls

    def __getattr__(self, name: str) -> Any:
        verb = getattr(self._target, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls.append(name)
            return await verb(*args, **kwargs)

        return counted


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def service(store: Any, llm: FakeLLM, registry: PersonaRegistry, clock: ManualClock) -> ChatService:
    return ChatService(store, llm, registry, ChatLimits(turn_lease=LEASE), clock=clock)


async def wait_until(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def read(reply, chunks: int | None = None) -> None:
    """Read `chunks` chunks of the reply (all when None), as an adapter streaming it would."""
    count = 0
    async for _ in reply:
        count += 1
        if chunks is not None and count == chunks:
            return


async def test_a_delivered_reply_costs_three_store_round_trips_and_is_stored_only_once_delivered(
    sqlite_store, fake_llm: FakeLLM, registry, clock
):
    store = CountingStore(sqlite_store)
    chat = service(store, fake_llm, registry, clock)
    fake_llm.enqueue("Hello there.")
    async with chat.stream(ALICE, "hi", place=PLACE) as reply:
        await read(reply)
        assert await sqlite_store.history(ALICE, 10) == [], "not stored before the platform has the final text"
        ((record, _),) = await sqlite_store.inflight.records()
        await reply.shown(41)
        await reply.delivered()

    assert store.calls == ["load_context", "keep_alive", "append_turn"]
    assert (record.place, record.question.content, record.owner) == (PLACE, "hi", chat.deliveries.owner)
    history = await sqlite_store.history(ALICE, 10)
    assert [(m.content, m.incomplete) for m in history] == [("hi", False), ("Hello there.", False)]
    assert await sqlite_store.inflight.records() == []


async def test_a_reply_whose_delivery_failed_is_stored_incomplete_and_logged(
    chat: ChatService, fake_llm: FakeLLM, sqlite_store, caplog
):
    fake_llm.enqueue("All of it.")
    with caplog.at_level(logging.WARNING):
        async with chat.stream(ALICE, "hi", place=PLACE) as reply:
            await read(reply)
            # the platform refused the final edit: the adapter never calls delivered()

    history = await sqlite_store.history(ALICE, 10)
    assert [(m.content, m.incomplete) for m in history] == [("hi", False), ("All of it.", True)]
    assert "turn_undelivered" in caplog.messages
    assert await sqlite_store.inflight.records() == []


async def test_a_failed_generation_leaves_no_record_and_stores_nothing(chat: ChatService, fake_llm, sqlite_store):
    fake_llm.enqueue("", error=RuntimeError("backend fell over"))
    with pytest.raises(ModelUnavailable):
        async with chat.stream(ALICE, "hi", place=PLACE) as reply:
            await read(reply)

    assert await sqlite_store.inflight.records() == [] and await sqlite_store.history(ALICE, 10) == []


async def test_the_next_turn_waits_until_the_reply_before_it_is_stored(chat: ChatService, fake_llm: FakeLLM):
    fake_llm.enqueue("First answer.")
    fake_llm.enqueue("Second answer.")
    first = chat.stream(ALICE, "one", place=PLACE)
    second = chat.stream(ALICE, "two", place=PLACE)
    await read(first)
    await first.shown(1)
    await first.delivered()
    async with second:
        await read(second)
        await second.delivered()
    await first.aclose()

    prompt = [m.content for m in fake_llm.history[1].messages[1:]]
    assert prompt == ["one", "First answer.", "two"], "the second prompt holds the first turn"


async def test_after_a_crash_the_next_process_resolves_each_interrupted_reply_once(
    sqlite_store, fake_llm: FakeLLM, registry, clock
):
    crashed = service(sqlite_store, fake_llm, registry, clock)
    fake_llm.enqueue(["Half ", "an ", "answer ", "never ", "finished."])
    reply = crashed.stream(ALICE, "tell me everything", place=PLACE)
    await read(reply, chunks=2)
    await reply.shown(41)
    await crashed.deliveries.aclose()  # the process dies: nothing renews its lease, nothing stores the turn

    restarted = service(sqlite_store, FakeLLM(), registry, clock)
    told: list[InFlight] = []

    async def notify(record: InFlight) -> bool:
        told.append(record)
        return True

    claimed, next_expiry = await restarted.deliveries.orphans("telegram")
    assert claimed == [] and next_expiry == clock.now + LEASE, "its lease still runs: it may be alive"
    clock.now += LEASE + 1
    await restarted.deliveries.watch("discord", notify)
    assert told == [], "each platform resolves its own replies"
    await restarted.deliveries.watch("telegram", notify)
    await restarted.deliveries.watch("telegram", notify)

    (record,) = told
    assert record.progress == Progress(("41",), "Half an ")
    assert (record.place, record.question.content) == (PLACE, "tell me everything")
    history = await sqlite_store.history(ALICE, 10)
    assert [(m.role, m.content) for m in history] == [("user", "tell me everything"), ("assistant", "Half an ")]
    assert history[1].metadata == {"persona": "assistant", "incomplete": True, "interrupted": True}
    assert await sqlite_store.inflight.records() == []


async def test_a_note_that_could_not_be_shown_is_tried_again_and_a_live_process_keeps_its_turns(
    sqlite_store, fake_llm: FakeLLM, registry, clock
):
    alive, crashed = (service(sqlite_store, fake_llm, registry, clock) for _ in range(2))
    fake_llm.enqueue("Still talking.")
    fake_llm.enqueue("Cut off.")
    talking = alive.stream("telegram:2", "hello", place={"chat_id": 2})
    cut = crashed.stream(ALICE, "hello", place=PLACE)
    await read(talking, chunks=1)
    await read(cut, chunks=1)
    await crashed.deliveries.aclose()
    clock.now += LEASE + 1
    await alive.deliveries.store.inflight.keep_alive(alive.deliveries.lease_now(), {})  # its heartbeat

    attempts: list[str] = []

    async def flaky(record: InFlight) -> bool:
        attempts.append(record.question.speaker_id or "")
        return len(attempts) > 1  # Telegram is down the first time

    restarted = service(sqlite_store, FakeLLM(), registry, clock)
    restarted.deliveries.lease = 0.2  # it sleeps a fraction of its lease (real time) between sweeps
    watching = asyncio.create_task(restarted.deliveries.watch("telegram", flaky))
    await wait_until(lambda: len(attempts) == 2)
    await asyncio.sleep(0.3)  # more sweeps: the live process's turn is still not claimed
    assert not watching.done(), "it keeps watching while another process's turn is in flight"
    watching.cancel()

    assert attempts == [ALICE, ALICE], "retried until shown, and the live turn never claimed"
    ((record, _),) = await sqlite_store.inflight.records()
    assert record.question.speaker_id == "telegram:2"
    await talking.aclose()
    await cut.aclose()


async def test_a_process_that_stalled_past_its_lease_does_not_store_the_turn_a_second_time(
    sqlite_store, fake_llm: FakeLLM, registry, clock, caplog
):
    stalled = service(sqlite_store, fake_llm, registry, clock)
    fake_llm.enqueue(["Slow ", "answer."])
    reply = stalled.stream(ALICE, "hello", place=PLACE)
    await read(reply, chunks=1)
    await reply.shown(5)
    await stalled.deliveries.aclose()  # paused (SIGSTOP, a long GC): no renewals
    clock.now += LEASE + 1

    async def shown(record: InFlight) -> bool:
        return True

    await service(sqlite_store, FakeLLM(), registry, clock).deliveries.watch("telegram", shown)
    with caplog.at_level(logging.WARNING):
        await read(reply)  # it wakes up and finishes
        await reply.delivered()

    history = await sqlite_store.history(ALICE, 10)
    assert [(m.content, m.metadata.get("interrupted")) for m in history] == [("hello", None), ("Slow ", True)]
    assert "turn_taken_over" in caplog.messages
