"""End to end with the real SmolLM2: long-term memory built with FakeLLM reaches the real model's prompt.

38 turns through FakeLLM over a SQLite store (turn 1 is `/remember`), a summary stored in the
background; then the same store with the real model, 2 turns through the terminal adapter.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence

import pytest

from nono.adapters.terminal import TerminalChat
from nono.core.chat import ChatLimits, ChatService
from nono.core.commands import Commands
from nono.core.llm.base import ChatMessage, GenerationOptions
from nono.core.llm.fake import FakeLLM
from nono.core.memory import FACTS_HEADER, SUMMARY_HEADER
from nono.core.personas import PersonaRegistry

pytestmark = pytest.mark.slow

USER = "terminal:alice"
FACT = "Alice's cat is called Biscuit."
SUMMARY = "Alice talked about her garden and asked about tomatoes."
WINDOW = 4
TURNS = 38

BRIEF_PERSONA = """\
name: brief
display_name: Brief
system_prompt: You are a helpful assistant. Answer in one short sentence.
temperature: 0
max_tokens: 24
"""


class RecordingLLM:
    """Delegates to the shared model (never closing it) and records the messages each stream receives."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[tuple[list[ChatMessage], GenerationOptions]] = []

    @property
    def queue_depth(self) -> int:
        return self.inner.queue_depth

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncIterator[str]:
        self.calls.append((list(messages), options))
        async for chunk in self.inner.stream(messages, options):
            yield chunk

    @property
    def model(self) -> str:
        return self.inner.model

    async def learn_counts(self) -> bool:
        return await self.inner.learn_counts()

    async def list_models(self):
        return await self.inner.list_models()

    async def health(self) -> None:
        await self.inner.health()

    async def aclose(self) -> None:
        """The model is shared by the session: nothing to release here."""


async def test_a_remembered_fact_and_the_summary_reach_the_real_model_and_the_reply_streams(
    sqlite_store, local_llm, tmp_path
):
    (tmp_path / "brief.yaml").write_text(BRIEF_PERSONA)
    registry = PersonaRegistry.from_directory(tmp_path, "brief")

    # Phase 1: FakeLLM, a small window, summaries on.
    fake = FakeLLM(default_reply="Noted.", default_summary=SUMMARY)
    limits = ChatLimits(max_context_messages=WINDOW, memory_summary=True)
    chat = ChatService(sqlite_store, fake, registry, limits)
    answer = await Commands(chat).dispatch(USER, f"/remember {FACT}")
    assert answer is not None
    for i in range(2, TURNS + 1):
        await chat.reply(USER, f"question {i} about the garden")
    await chat.summaries.idle()
    await chat.aclose()
    summary = await sqlite_store.get_summary(USER)
    assert summary is not None and summary.text == SUMMARY
    stored_before = len(await chat.history(USER, 1000))
    assert stored_before == 2 * (TURNS - 1)

    # Phase 2: the same store, the real model, through the terminal adapter.
    recorder = RecordingLLM(local_llm)
    real = ChatService(sqlite_store, recorder, registry, ChatLimits(max_context_messages=WINDOW))
    stdout = io.StringIO()
    stdin = io.StringIO("What is my cat called?\nAnd what did we talk about?\n")
    await TerminalChat(real, USER, stdin, stdout).run()
    await real.aclose()

    replies = [messages for messages, options in recorder.calls if options.purpose == "reply"]
    assert len(replies) == 2
    for prompt in replies:
        assert prompt[0].role == "system"
        text = [m.content for m in prompt[1:]]
        fact_at = next(i for i, c in enumerate(text) if c.startswith(FACTS_HEADER) and FACT in c)
        summary_at = next(i for i, c in enumerate(text) if c.startswith(SUMMARY_HEADER) and SUMMARY in c)
        assert (fact_at, summary_at) == (0, 1)  # system → facts → summary → window → new message
    assert replies[0][-1] == ChatMessage("user", "What is my cat called?")
    assert replies[1][-1] == ChatMessage("user", "And what did we talk about?")

    history = await real.history(USER, 1000)
    assert len(history) == stored_before + 4
    new = history[-4:]
    assert [(m.role, m.content) for m in new[0::2]] == [
        ("user", "What is my cat called?"),
        ("user", "And what did we talk about?"),
    ]
    assert [m.role for m in new[1::2]] == ["assistant", "assistant"]
    first, second = (m.content for m in new[1::2])
    assert first.strip() and second.strip()
    assert stdout.getvalue() == f"{first}\n{second}\n"  # both replies streamed to the terminal
