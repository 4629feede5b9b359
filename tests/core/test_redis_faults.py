"""Redis going away under a running ChatService: clear errors, no half-stored turns, recovery without restart."""

from __future__ import annotations

import asyncio

import pytest

from nono.core.chat import ChatService
from nono.core.errors import StoreUnavailable
from nono.core.llm.fake import FakeLLM
from nono.core.store.redis_store import RedisStore
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis
USER = "telegram:1001"


@pytest.fixture
def aof_redis(tmp_path):
    """A private Redis that fsyncs every write to its append-only file before answering."""
    server = RedisServer(tmp_path, "--appendonly", "yes", "--appendfsync", "always").start()
    yield server
    server.stop()


@pytest.fixture
async def chat_on(aof_redis, registry):
    store = RedisStore.from_url(aof_redis.url, prefix="nono:")
    llm = FakeLLM(default_reply="answer")
    yield ChatService(store, llm, registry), llm
    await store.aclose()


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "kill-9"])
async def test_answered_turns_survive_a_redis_crash_and_turns_resume_after_restart(aof_redis, chat_on, kill):
    chat, _ = chat_on
    for n in range(5):
        await chat.reply(USER, f"question {n}")

    aof_redis.stop(kill=kill)
    with pytest.raises(StoreUnavailable) as info:
        await chat.reply(USER, "while redis is down")
    assert "temporarily unavailable" in str(info.value)

    aof_redis.start()  # same port, same append-only file; Nono is not restarted
    reply = await chat.reply(USER, "after restart")
    assert reply.text == "answer"
    contents = [m.content for m in await chat.history(USER, 100)]
    assert contents == [c for n in range(5) for c in (f"question {n}", "answer")] + ["after restart", "answer"]


async def test_redis_lost_during_generation_stores_nothing_half_done(aof_redis, chat_on):
    chat, llm = chat_on
    await chat.reply(USER, "before")
    held = asyncio.Event()
    llm.enqueue(["partial ", "reply"], wait_for=held)
    turn = asyncio.create_task(chat.reply(USER, "during outage"))
    await asyncio.sleep(0.05)  # the turn has read its context and is generating
    aof_redis.stop(kill=True)
    held.set()
    with pytest.raises(StoreUnavailable):
        await turn
    aof_redis.start()
    assert [m.content for m in await chat.history(USER, 100)] == ["before", "answer"]
