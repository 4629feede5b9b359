"""Abuse limits decided before any await: per-user rate and line length; other users unaffected."""

from __future__ import annotations

import asyncio

import pytest

from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import Busy, RateLimited
from nono.core.llm.fake import FakeLLM
from nono.core.ratelimit import RateLimiter


def test_rate_limiter_counts_a_sliding_minute_and_says_when_to_retry():
    limiter = RateLimiter(3)
    for t in (0.0, 10.0, 20.0):
        limiter.check("u", t)
    with pytest.raises(RateLimited) as info:
        limiter.check("u", 30.0)
    assert info.value.retry_after == 30 and "30 s" in str(info.value)
    limiter.check("other", 30.0)  # another user is unaffected
    limiter.check("u", 60.5)  # the first message left the window


def test_idle_users_are_forgotten():
    limiter = RateLimiter(5)
    for n in range(2000):
        limiter.check(f"u{n}", float(n) * 0.001)
    limiter._prune(1000.0)
    assert len(limiter) == 0


async def test_rate_limited_message_is_refused_and_stores_nothing(sqlite_store, registry):
    now = [0.0]
    llm = FakeLLM(default_reply="ok")
    chat = ChatService(sqlite_store, llm, registry, ChatLimits(rate_limit_per_minute=2), clock=lambda: now[0])
    await chat.reply("rest:a", "one")
    await chat.reply("rest:a", "two")
    with pytest.raises(RateLimited):
        await chat.reply("rest:a", "three")
    await chat.reply("rest:b", "b is fine")
    assert [m.content for m in await chat.history("rest:a")] == ["one", "ok", "two", "ok"]
    now[0] = 61.0
    await chat.reply("rest:a", "later")


async def test_messages_beyond_the_pending_limit_are_busy_and_the_rest_keep_order(sqlite_store, registry):
    llm = FakeLLM()
    gate = asyncio.Event()
    chat = ChatService(sqlite_store, llm, registry, ChatLimits(max_pending_per_user=2))
    llm.enqueue("r0", wait_for=gate)
    llm.enqueue("r1")
    llm.enqueue("r2")
    replies = [chat.stream("rest:a", f"m{n}") for n in range(5)]  # 1 running + 2 waiting accepted

    async def run(reply):
        async with reply:
            return "".join([chunk async for chunk in reply])

    tasks = [asyncio.create_task(run(r)) for r in replies]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[:3] == ["r0", "r1", "r2"]
    assert all(isinstance(r, Busy) for r in results[3:])
    assert [m.content for m in await chat.history("rest:a", 10)] == ["m0", "r0", "m1", "r1", "m2", "r2"]
