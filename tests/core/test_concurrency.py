"""Ordering and independence under concurrency, on every store backend."""

from __future__ import annotations

import asyncio

from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM


async def _drain(reply) -> str:
    async with reply:
        return "".join([chunk async for chunk in reply])


async def test_twenty_concurrent_messages_of_one_user_are_answered_and_stored_in_arrival_order(store, registry):
    llm = FakeLLM()
    chat = ChatService(store, llm, registry)
    for n in range(20):
        # Later replies are faster: without the per-user line they would overtake earlier ones.
        llm.enqueue([f"reply {n}", "."], delay=(20 - n) * 0.001)
    replies = [chat.stream("discord:7", f"message {n}") for n in range(20)]

    answers = await asyncio.gather(*(_drain(r) for r in reversed(replies)))

    assert list(reversed(answers)) == [f"reply {n}." for n in range(20)]
    history = await chat.history("discord:7", 100)
    expected = [text for n in range(20) for text in (f"message {n}", f"reply {n}.")]
    assert [m.content for m in history] == expected
    assert [m.seq for m in history] == list(range(40))
    # Each prompt saw exactly the turns stored before it: no interleaving of read and write.
    assert [len(p.messages) for p in llm.history[:3]] == [2, 4, 6]


async def test_one_users_slow_generation_never_blocks_another_user(store, registry):
    llm = FakeLLM()
    chat = ChatService(store, llm, registry)
    held = asyncio.Event()
    llm.enqueue("A's slow answer", wait_for=held)
    llm.enqueue("B's answer")

    a = asyncio.create_task(chat.reply("telegram:a", "long question"))
    async with asyncio.timeout(5):
        while not llm.history:  # A is now generating and held open
            await asyncio.sleep(0.001)
    b = await asyncio.wait_for(chat.reply("telegram:b", "quick question"), timeout=5)

    assert b.text == "B's answer" and not a.done()
    assert [m.content for m in await chat.history("telegram:b")] == ["quick question", "B's answer"]
    assert await chat.history("telegram:a") == []
    held.set()
    assert (await a).text == "A's slow answer"
