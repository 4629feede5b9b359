"""A reply closed before it was ever read gives its place in line back: the person's next turn still runs.

Adapters start a turn (taking its place in line) before they know whether they will read it: a
platform error before the first chunk, a refused request or persona switch, closes it unread.
The limits here allow one turn at a time, so a place kept by a closed reply would refuse the
next message as "too many waiting" (or, with room in the line, leave it waiting forever).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from nono.core.reply import Reply
from nono.core.store.sqlite_store import SQLiteStore

PERSON = "telegram:42"
#: Bounds a wait that only a leaked place in line would make endless (a hang guard, not a timing check).
HANG = 10


class PlatformDown(Exception):
    """What an adapter's first request to its platform raised."""


async def by_aclose(reply: Reply) -> None:
    await reply.aclose()


async def by_leaving_its_block(reply: Reply) -> None:
    async with reply:
        pass  # e.g. a refused persona switch: the adapter answers the refusal and never reads the turn


async def by_an_adapter_error(reply: Reply) -> None:
    with pytest.raises(PlatformDown):
        async with reply:
            raise PlatformDown("typing indicator refused")


CLOSINGS = [by_aclose, by_leaving_its_block, by_an_adapter_error]


@pytest.fixture
def limits() -> ChatLimits:
    return ChatLimits(max_pending_per_user=0)


@pytest.mark.parametrize("close", CLOSINGS, ids=lambda f: f.__name__)
async def test_a_reply_closed_unread_gives_its_place_back_and_the_next_turn_runs(
    chat: ChatService, fake_llm: FakeLLM, close: Callable[[Reply], Awaitable[None]]
) -> None:
    fake_llm.enqueue("The next answer.")
    await close(chat.stream(PERSON, "never read"))

    assert chat.waiting(PERSON) == 0
    reply = await asyncio.wait_for(chat.reply(PERSON, "next question"), HANG)
    assert reply.text == "The next answer."
    assert [m.content for m in await chat.history(PERSON)] == ["next question", "The next answer."]
    assert len(fake_llm.history) == 1, "the closed turn never reached the model"


@pytest.mark.parametrize("close", CLOSINGS, ids=lambda f: f.__name__)
async def test_a_reply_closed_unread_while_waiting_in_line_leaves_it_and_the_turn_after_it_runs(
    sqlite_store: SQLiteStore, registry: PersonaRegistry, close: Callable[[Reply], Awaitable[None]]
) -> None:
    llm, held = FakeLLM(), asyncio.Event()
    chat = ChatService(sqlite_store, llm, registry, ChatLimits(max_pending_per_user=1))
    llm.enqueue("First answer.", wait_for=held)
    llm.enqueue("Third answer.")
    first = asyncio.create_task(chat.reply(PERSON, "first"))
    for _ in range(1000):  # until the first turn is generating (its prompt reached the model)
        if llm.history:
            break
        await asyncio.sleep(0.001)
    assert llm.history, "the first turn never started"

    await close(chat.stream(PERSON, "second, never read"))  # it was waiting behind the first
    third = chat.stream(PERSON, "third")
    assert third.refusal is None, "the closed reply still held a place in line"
    held.set()
    await asyncio.wait_for(first, HANG)
    async with third:
        assert "".join([chunk async for chunk in third]) == "Third answer."

    stored = [m.content for m in await chat.history(PERSON)]
    assert stored == ["first", "First answer.", "third", "Third answer."]
    assert chat.waiting(PERSON) == 0
