"""Two Nono processes on one Redis: each conversation's summary is written by one of them at a time.

Each "process" is a ChatService with its own RedisStore (connection pool), its own model and its own
summarizer; a conversation's turns reach either. A summary step the other process is writing is
not written twice: no message is ever condensed by both models.
"""

from __future__ import annotations

import asyncio

import pytest

from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from nono.core.store.redis_store import RedisStore
from nono.core.summaries import SUMMARY_DUTY
from tests.conftest import REDIS_URL

WINDOW = 4
LIMITS = ChatLimits(max_context_messages=WINDOW, memory_summary=True)
PEOPLE = ["terminal:ana", "terminal:bo", "terminal:cy"]


class Process:
    """What one Nono process holds: its store connection, its model, its ChatService."""

    def __init__(self, prefix: str, registry: PersonaRegistry) -> None:
        self.store = RedisStore.from_url(REDIS_URL, prefix=prefix)
        self.llm = FakeLLM(default_summary="notes")
        self.chat = ChatService(self.store, self.llm, registry, LIMITS)

    async def talk(self, who: str, turn: int) -> None:
        self.llm.enqueue(f"{who} answer {turn}")
        await self.chat.reply(who, f"{who} question {turn}")

    def summarized(self) -> list[str]:
        """The text of each summary prompt this process's model was sent."""
        return ["\n".join(m.content for m in call.messages) for call in self.llm.calls("summary")]

    async def aclose(self) -> None:
        await self.chat.aclose()
        await self.store.aclose()


@pytest.fixture
async def two(redis_prefix: str, registry: PersonaRegistry):
    processes = Process(redis_prefix, registry), Process(redis_prefix, registry)
    yield processes
    for process in processes:
        await process.aclose()


async def idle(*processes: Process) -> None:
    async with asyncio.timeout(20):
        for process in processes:
            summaries = process.chat.summaries
            assert summaries is not None
            await summaries.idle()


def condensing(processes: tuple[Process, Process], line: str) -> list[int]:
    """Which processes (0 for a, 1 for b) sent `line` to their model to be summarized."""
    return [n for n, process in enumerate(processes) if any(line in prompt for prompt in process.summarized())]


async def covered(process: Process, who: str, covers: int) -> None:
    async with asyncio.timeout(10):
        while (summary := await process.store.get_summary(who)) is None or summary.covers < covers:
            await asyncio.sleep(0.01)


async def test_a_summary_another_process_is_writing_is_not_written_twice(two: tuple[Process, Process]):
    a, b = two
    ana, *others = PEOPLE
    for who in PEOPLE:  # 4 messages each, through both processes: all still in the window
        await a.talk(who, 0)
        await b.talk(who, 1)
    held = asyncio.Event()
    a.llm.enqueue("notes by a", purpose="summary", wait_for=held)
    await a.talk(ana, 2)  # a starts summarizing ana's first turn, and is still at it...
    async with asyncio.timeout(10):
        while not a.llm.calls("summary"):
            await asyncio.sleep(0.01)
    await b.talk(ana, 3)  # ...when b stores ana's next turn and wants her summary too
    for who in others:
        await b.talk(who, 2)
        await b.talk(who, 3)
    for who in others:  # b summarizes the conversations nobody else is writing
        await covered(b, who, 3)
    assert condensing(two, f"{ana} question 0") == [0], "b waits for a instead of writing ana's summary too"
    held.set()
    await idle(a, b)

    for who in PEOPLE:  # each message that left the window was condensed by one process, once
        for line in [f"{who} {kind} {turn}" for turn in (0, 1) for kind in ("question", "answer")]:
            assert len(condensing(two, line)) == 1, line
        summary = await a.store.get_summary(who)
        assert summary is not None and summary.covers == 8 - WINDOW - 1, "everything out of the window is covered"
    # Ana's: a wrote what had left the window when it started, b what left it after (it looked again).
    assert condensing(two, f"{ana} answer 0") == [0] and condensing(two, f"{ana} answer 1") == [1]


async def test_a_summary_duty_left_by_a_dead_process_is_taken_over_after_its_lease(two: tuple[Process, Process]):
    a, b = two
    who = PEOPLE[0]
    # A process claimed the conversation's summary and was killed: nothing renews its claim.
    assert await b.store.duties.claim(SUMMARY_DUTY, who, "killed-process", 1.0)
    for turn in range(3):
        await (a, b)[turn % 2].talk(who, turn)
    await idle(a, b)  # the turn's process waits out the lease, then writes it

    summary = await b.store.get_summary(who)
    assert summary is not None and summary.covers == 1
    assert len(a.summarized() + b.summarized()) == 1
