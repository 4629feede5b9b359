"""Rolling summaries: what leaves the window is condensed in the background, exactly once, never before a user."""

from __future__ import annotations

import asyncio
import logging

import pytest

from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.memory import SUMMARY_HEADER
from nono.core.model_gate import ModelGate
from nono.core.people import Place, Scope, Speaker, group_conversation
from nono.core.summaries import Summarizer, SummaryLimits

USER = "terminal:ana"
WINDOW = 4
LIMITS = ChatLimits(max_context_messages=WINDOW, memory_summary=True)


def summary_service(store, llm, registry) -> ChatService:
    return ChatService(store, llm, registry, LIMITS)


async def talk(chat: ChatService, llm: FakeLLM, *turns: int, who: str = USER) -> None:
    for i in turns:
        llm.enqueue(f"answer {i}")
        await chat.reply(who, f"question {i}")


def prompt_of(llm: FakeLLM, purpose: str, index: int = -1) -> str:
    return "\n".join(m.content for m in llm.calls(purpose)[index].messages)


async def test_messages_that_leave_the_window_are_summarized_covering_exactly_them(store, registry):
    llm = FakeLLM()
    chat = summary_service(store, llm, registry)
    await talk(chat, llm, 0, 1)  # 4 messages: all still in the window
    await chat.summaries.idle()
    assert llm.calls("summary") == []

    llm.enqueue("Ana asked question 0.", purpose="summary")
    await talk(chat, llm, 2)  # seqs 0 and 1 leave the window
    await chat.summaries.idle()
    summary = await store.get_summary(USER)
    assert (summary.text, summary.covers, summary.model, summary.revision) == (
        "Ana asked question 0.",
        1,
        "fake:fake-model",
        1,
    )
    condensed = prompt_of(llm, "summary")
    assert "question 0" in condensed and "answer 0" in condensed and "question 1" not in condensed
    assert llm.calls("summary")[-1].options.max_tokens == LIMITS.memory_summary_tokens

    llm.enqueue("Ana asked questions 0 and 1.", purpose="summary")
    await talk(chat, llm, 3)
    await chat.summaries.idle()
    reply_prompt = llm.calls("reply")[-1].messages
    assert [m.role for m in reply_prompt] == ["system", "user", "user", "assistant", "user", "assistant", "user"]
    assert reply_prompt[1].content == f"{SUMMARY_HEADER}\nAna asked question 0."
    # The next step starts from the previous summary and takes only what left the window since.
    condensed = prompt_of(llm, "summary")
    assert "Ana asked question 0." in condensed and "question 1" in condensed and "question 0\n" not in condensed
    assert (await store.get_summary(USER)).covers == 3


async def test_a_summary_is_idempotent_across_a_restart(store, registry):
    llm = FakeLLM(default_summary="notes so far")
    chat = summary_service(store, llm, registry)
    await talk(chat, llm, 0, 1, 2)
    await chat.summaries.idle()
    await chat.aclose()
    written = await store.get_summary(USER)

    restarted = summary_service(store, llm, registry)
    calls = len(llm.history)
    assert await restarted.summaries.summarize(USER) is False  # nothing new left the window
    assert len(llm.history) == calls
    assert await store.get_summary(USER) == written


async def test_a_user_turn_arriving_while_a_summary_runs_starts_first(store, registry):
    llm = FakeLLM(default_summary="later notes")
    chat = summary_service(store, llm, registry)
    await talk(chat, llm, 0, 1)
    held = asyncio.Event()
    llm.enqueue("first try", purpose="summary", wait_for=held)  # a summary still in its prefill
    await talk(chat, llm, 2)
    while not llm.calls("summary"):
        await asyncio.sleep(0)
    first = len(llm.history) - 1

    await talk(chat, llm, 3)  # does not wait for the summary: it gives the model up

    await chat.summaries.idle()
    purposes = [p.options.purpose for p in llm.history[first:]]
    assert purposes[:3] == ["summary", "reply", "summary"]  # preempted, the user answered, then restarted
    summary = await store.get_summary(USER)
    assert summary.text == "later notes" and summary.covers == 3


async def test_summary_jobs_never_make_a_user_busy(store, registry):
    class OneAtATime(FakeLLM):
        """Like a backend with LLM_MAX_QUEUE=1: a second stream at once is refused."""

        open = 0

        async def stream(self, messages, options):
            assert self.open == 0, "two generations at once: the summary was counted against the queue"
            self.open += 1
            try:
                async for chunk in super().stream(messages, options):
                    yield chunk
            finally:
                self.open -= 1

    llm = OneAtATime(default_summary="notes")
    chat = summary_service(store, llm, registry)
    await talk(chat, llm, 0, 1)
    llm.enqueue("slow", purpose="summary", wait_for=asyncio.Event())
    await talk(chat, llm, 2)
    while not llm.calls("summary"):
        await asyncio.sleep(0)
    await talk(chat, llm, 3)
    await chat.summaries.idle()


async def test_a_failing_summary_is_logged_retried_with_back_off_and_never_shown(store, registry, caplog):
    llm = FakeLLM()
    chat = ChatService(store, llm, registry, ChatLimits(max_context_messages=WINDOW))
    await talk(chat, llm, 0, 1, 2)
    summarizer = Summarizer(
        store, llm, ModelGate(), registry, SummaryLimits(window=WINDOW, retry_after=0.01, retry_max=0.02)
    )
    llm.enqueue("", purpose="summary", error=RuntimeError("model fell over"))
    llm.enqueue("recovered notes", purpose="summary")
    with caplog.at_level(logging.WARNING):
        summarizer.schedule(USER)
        await asyncio.wait_for(summarizer.idle(), 5)
    assert [r.failures for r in caplog.records if r.message == "summary_failed"] == [1]
    assert (await store.get_summary(USER)).text == "recovered notes"
    await summarizer.aclose()


async def test_a_reset_while_a_summary_is_written_keeps_the_reset(store, registry):
    llm = FakeLLM()
    chat = summary_service(store, llm, registry)
    await talk(chat, llm, 0, 1)
    release = asyncio.Event()
    llm.enqueue("stale notes", purpose="summary", wait_for=release)
    await talk(chat, llm, 2)
    while not llm.calls("summary"):
        await asyncio.sleep(0)
    await chat.reset(USER)
    await talk(chat, llm, 10)
    release.set()
    await chat.summaries.idle()
    summary = await store.get_summary(USER)
    assert summary is None or "stale" not in summary.text


async def test_summaries_off_means_no_background_calls(store, registry):
    llm = FakeLLM()
    chat = ChatService(store, llm, registry, ChatLimits(max_context_messages=WINDOW))
    assert chat.summaries is None
    await talk(chat, llm, 0, 1, 2, 3)
    assert llm.calls("summary") == []


async def test_a_shared_summary_that_covered_someone_is_rebuilt_without_them_after_forget_me(store, registry):
    llm = FakeLLM(default_summary="notes")
    chat = summary_service(store, llm, registry)
    room = group_conversation(Place("discord", "channel:9"), "discord:1", Scope.SHARED)
    alice, bob = Speaker.of("discord:1", "Alice"), Speaker.of("discord:2", "Bob")
    for i, who in enumerate([alice, bob] * 3):
        llm.enqueue(f"answer {i}")
        await chat.reply(room, f"{who.name} says thing {i}", speaker=who)
        await chat.summaries.idle()
    assert "Alice says thing 0" in prompt_of(llm, "summary", 0)

    llm.enqueue("rebuilt notes", purpose="summary")
    await chat.personal_data.erase(alice.person)
    await chat.summaries.idle()
    rebuilt = prompt_of(llm, "summary")
    assert "Alice" not in rebuilt and "Bob says thing 1" in rebuilt
    summary = await store.get_summary(room.id)
    assert summary.text == "rebuilt notes" and summary.covers == 1


@pytest.mark.parametrize("window", [WINDOW])
async def test_a_long_backlog_is_condensed_in_steps_that_each_fit_the_context(sqlite_store, registry, window):
    llm = FakeLLM(default_summary="step", count_tokens=lambda text: len(text.split()))
    limits = SummaryLimits(window=window, num_ctx=400, summary_tokens=100)
    chat = ChatService(sqlite_store, llm, registry, ChatLimits(max_context_messages=window))
    for i in range(20):
        llm.enqueue("reply " + "word " * 30)
        await chat.reply(USER, f"question {i} " + "word " * 30)
    summarizer = Summarizer(sqlite_store, llm, ModelGate(), registry, limits)
    summarizer.schedule(USER)
    await asyncio.wait_for(summarizer.idle(), 5)
    steps = llm.calls("summary")
    assert len(steps) > 1
    assert all(sum(llm.count_tokens(m.content) for m in step.messages) <= 400 - 100 for step in steps)
    assert (await sqlite_store.get_summary(USER)).covers == 40 - window - 1
