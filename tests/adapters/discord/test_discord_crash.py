"""A crash mid-reply on Discord, through SimCord: the process dies, a new one starts over the same store.

Process A answers with a model that writes a few words and then stalls. While its reply is on
screen, A "dies": its lease stops being renewed and its bot is dropped without the shutdown path
(which would store the turn itself: a graceful stop is not a crash). Process B, a new
ChatService and bot over the same store, waits out A's lease and ends the reply once, in place.
A live process that keeps renewing its lease is never overtaken. Run on SQLite and the real Redis.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from pathlib import Path

import discord
import pytest
import simcord

from nono.adapters.discord import create_discord_bot
from nono.adapters.discord.recovery import notify
from nono.bot.options import discord_options
from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.base import ChatMessage, GenerationOptions
from nono.core.llm.fake import FakeLLM, Prompt
from nono.core.personas import PersonaRegistry
from nono.core.store.base import Store
from nono.core.store.redis_store import RedisStore
from nono.core.store.sqlite_store import SQLiteStore
from nono.core.wording import RESTARTED_NOTHING, RESTARTED_PARTIAL
from tests.adapters.discord.conftest import Server
from tests.conftest import REDIS_URL
from tests.support.settings import make_settings

#: A short lease (TURN_LEASE), so a restart waits about a second for the dead process's lease to run out.
LIMITS = ChatLimits(turn_lease=1)
PARTIAL = "Counting slowly: one, two,"
WAIT = 10.0  # seconds; only ever reached when something is broken


class StallingLLM(FakeLLM):
    """Writes some words, then stalls until `resume` is set: a model in a process about to die."""

    def __init__(self) -> None:
        super().__init__()
        self.env: simcord.Env | None = None  # the stall is declared to SimCord as an outside wait
        self.resume = asyncio.Event()
        self.stalled: list[asyncio.Task[object]] = []  # the tasks reading a stalled reply
        self._scripts: deque[tuple[list[str], list[str]]] = deque()

    def stall(self, before: Sequence[str], after: Sequence[str] = ()) -> None:
        """The next reply writes `before`, stalls, and writes `after` once resumed."""
        self._scripts.append((list(before), list(after)))

    async def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncIterator[str]:
        self.history.append(Prompt(list(messages), options))
        before, after = self._scripts.popleft()
        for chunk in before:
            yield chunk
        task = asyncio.current_task()
        assert task is not None and self.env is not None
        self.stalled.append(task)
        # Declared, so SimCord counts the stalled turn as waiting, not as stuck.
        await self.env.external_wait(self.resume.wait(), reason="the model stalls")
        for chunk in after:
            yield chunk


@pytest.fixture(params=["sqlite", "redis"])
def store_opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Opens a store over the same data each time, as each process does."""
    if request.param == "sqlite":
        return partial(SQLiteStore, tmp_path / "nono.sqlite3")
    prefix = request.getfixturevalue("redis_prefix")  # skips when no Redis answers
    return partial(RedisStore.from_url, REDIS_URL, prefix=prefix)


@pytest.fixture
async def open_store(store_opener: Callable[[], Store]) -> AsyncIterator[Callable[[], Store]]:
    """`open_store()`: a process's own store (connection) over the shared data; all closed at the end."""
    opened: list[Store] = []

    def open_() -> Store:
        opened.append(store_opener())
        return opened[-1]

    yield open_
    for store in reversed(opened):
        await store.aclose()


@pytest.fixture
def llm() -> StallingLLM:
    return StallingLLM()


@pytest.fixture
def chat(open_store: Callable[[], Store], llm: StallingLLM, registry: PersonaRegistry) -> ChatService:
    """Process A's ChatService (the bot SimCord starts with runs on it)."""
    return ChatService(open_store(), llm, registry, LIMITS)


@pytest.fixture
async def stalling(llm: StallingLLM, simcord_env: simcord.Env) -> AsyncIterator[StallingLLM]:
    """The model; its stalled turns are cancelled at the end (only then does A's turn end, and is stored)."""
    llm.env = simcord_env
    yield llm
    for task in llm.stalled:
        task.cancel()
    await asyncio.gather(*llm.stalled, return_exceptions=True)


@pytest.fixture
def new_process(open_store: Callable[[], Store], registry: PersonaRegistry) -> Callable[[], ChatService]:
    """`new_process()`: the ChatService of another process over the same store."""
    return lambda: ChatService(open_store(), FakeLLM(), registry, LIMITS)


async def until(check: Callable[[], object], what: str) -> None:
    """Let the bot run until `check()` holds (SimCord's settle would wait for the stalled turn's heartbeat)."""
    try:
        async with asyncio.timeout(WAIT):
            while not check():
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def ask(server: Server, llm: StallingLLM, text: str) -> int:
    """Alice asks Nono; returns once the model stalls. The id of her message."""
    asked = server.env.backend.create_message(server.channel.id, server.alice.id, f"<@{server.bot_id}> {text}")
    await until(lambda: llm.stalled, "the model to stall")
    return int(asked.id)


async def crash(server: Server, chat: ChatService, llm: StallingLLM) -> None:
    """Process A dies: its lease is no longer renewed and its turn never runs again.

    SimCord's restart drains the old bot's work and cancels what is left, which would run the
    turn's own ending (storing it); a dead process runs nothing. So SimCord is told the stalled
    turn is not the bot's any more (SimCord has no public verb for that): the restart neither
    waits for it nor cancels it, and it stays stalled until the test ends.
    """
    await chat.deliveries.aclose()  # only the renewals stop, as in a dead process
    for task in llm.stalled:
        server.env._work.tasks.pop(task, None)


async def restart(server: Server, chat: ChatService) -> None:
    """Start a new bot on `chat` (its start-up sweep ends what a dead process left), and let it finish."""
    await server.env.restart_bot(create_discord_bot(chat, discord_options(make_settings())))
    await server.env.settle(timeout=WAIT)


def conversation(server: Server) -> str:
    return f"discord:channel:{server.channel.id}:person:{server.alice.id}"


def contents(messages: list[discord.Message]) -> list[str]:
    return [message.content for message in messages]


async def test_a_reply_cut_by_a_crash_is_ended_in_place_once_after_a_restart(
    discord_server: Server, stalling: StallingLLM, chat: ChatService, new_process: Callable[[], ChatService]
):
    server, llm = discord_server, stalling
    llm.stall([PARTIAL])
    await ask(server, llm, "count to ten, slowly")
    await until(lambda: contents(server.bot_messages()) == [PARTIAL], "the partial reply")
    (shown,) = server.bot_messages()

    await crash(server, chat, llm)
    restarted = new_process()
    await restart(server, restarted)

    (ended,) = server.bot_messages()  # the same message, edited: nothing new, nothing twice
    assert ended.id == shown.id
    assert ended.content == f"{RESTARTED_PARTIAL}\n\n{PARTIAL}"
    history = await restarted.store.history(conversation(server), 10)
    assert [(m.role, m.content) for m in history] == [("user", "count to ten, slowly"), ("assistant", PARTIAL)]
    assert history[1].metadata.get("incomplete") is True and history[1].metadata.get("interrupted") is True

    # Another restart finds nothing left to end.
    await restart(server, new_process())
    assert [(m.id, m.content) for m in server.bot_messages()] == [(ended.id, ended.content)]
    assert await restarted.store.history(conversation(server), 10) == history


async def test_a_reply_cut_before_its_first_words_gets_one_note_answering_the_question(
    discord_server: Server, stalling: StallingLLM, chat: ChatService, new_process: Callable[[], ChatService]
):
    server, llm = discord_server, stalling
    llm.stall([])
    asked = await ask(server, llm, "what is the capital of Peru?")
    assert server.bot_messages() == []

    await crash(server, chat, llm)
    restarted = new_process()
    await restart(server, restarted)

    (note,) = server.bot_messages()
    assert note.content == RESTARTED_NOTHING
    assert note.reference is not None and note.reference.message_id == asked
    history = await restarted.store.history(conversation(server), 10)
    assert [(m.role, m.content) for m in history] == [("user", "what is the capital of Peru?"), ("assistant", "")]
    assert history[1].metadata.get("incomplete") is True and history[1].metadata.get("interrupted") is True


async def test_a_live_process_keeps_its_reply_while_another_starts(
    discord_server: Server, stalling: StallingLLM, discord_edits, new_process: Callable[[], ChatService]
):
    server, llm = discord_server, stalling
    llm.stall([PARTIAL], [" three."])
    await ask(server, llm, "count to three, slowly")
    await until(lambda: server.bot_messages(), "the partial reply")

    # Another process starts while A lives; its sweep runs through A's stall, longer than A's lease,
    # so a lease A did not renew would run out under its eyes. (SimCord runs one bot: B's notes,
    # if any, would go through the bot it runs, A's, to the same channel.)
    other = new_process()
    sweep = asyncio.create_task(other.deliveries.watch("discord", partial(notify, server.env.bot)))
    await asyncio.sleep(2.5 * LIMITS.turn_lease)
    assert not sweep.done()  # still waiting for A's live reply
    llm.resume.set()
    async with asyncio.timeout(WAIT):
        await sweep  # A's reply was stored: nothing left for B
    await server.env.settle(timeout=WAIT)

    assert contents(server.bot_messages()) == [f"{PARTIAL} three."]
    assert not any(edit.content.startswith(RESTARTED_PARTIAL) for edit in discord_edits)
    history = await other.store.history(conversation(server), 10)
    assert [(m.role, m.content) for m in history] == [
        ("user", "count to three, slowly"),
        ("assistant", f"{PARTIAL} three."),
    ]
    assert not history[1].metadata.get("incomplete")
