"""User turns before background work at the model: a summary gives the model up to a user turn at once."""

from __future__ import annotations

import asyncio

import pytest

from nono.core.llm.base import ChatMessage, GenerationOptions
from nono.core.llm.fake import FakeLLM
from nono.core.model_gate import ModelGate, Preempted

PROMPT = [ChatMessage("user", "condense this")]
SUMMARY = GenerationOptions(purpose="summary")


class Recording(FakeLLM):
    """A FakeLLM that also records when each stream is opened and closed."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    async def stream(self, messages, options):
        self.events.append(f"open {options.purpose}")
        try:
            async for chunk in super().stream(messages, options):
                yield chunk
        finally:
            self.events.append(f"close {options.purpose}")

    async def opened(self) -> None:
        """Wait (a few loop turns at most) until a stream has been opened."""
        for _ in range(100):
            if self.events:
                return
            await asyncio.sleep(0)
        raise AssertionError("no stream was opened")


async def test_a_background_generation_runs_to_the_end_when_nobody_needs_the_model():
    llm = Recording()
    llm.enqueue("the notes", purpose="summary")
    assert await ModelGate().background(llm, PROMPT, SUMMARY) == "the notes"
    assert llm.events == ["open summary", "close summary"]


async def test_a_user_turn_preempts_a_running_summary_and_starts_only_once_it_is_closed():
    llm, gate = Recording(), ModelGate()
    never = asyncio.Event()
    llm.enqueue("slow notes", purpose="summary", wait_for=never)  # prefill that would take forever
    llm.enqueue("hello!")
    job = asyncio.create_task(gate.background(llm, PROMPT, SUMMARY))
    await llm.opened()
    assert llm.events == ["open summary"]

    async with gate.user():
        reply = [chunk async for chunk in llm.stream(PROMPT, GenerationOptions())]

    assert "".join(reply) == "hello!"
    with pytest.raises(Preempted):
        await job
    assert llm.events == ["open summary", "close summary", "open reply", "close reply"]


async def test_a_summary_stops_at_the_next_token_boundary_when_a_user_arrives():
    llm, gate = Recording(), ModelGate()
    llm.enqueue(["a ", "b ", "c ", "d "], purpose="summary", delay=0.01)
    job = asyncio.create_task(gate.background(llm, PROMPT, SUMMARY))
    await llm.opened()
    await asyncio.sleep(0.015)  # a token or so in
    await gate.enter()
    assert llm.events[-1] == "close summary"  # closed before the user got the model
    gate.leave()
    with pytest.raises(Preempted):
        await job


async def test_a_summary_waits_while_a_user_turn_holds_the_model():
    llm, gate = Recording(), ModelGate()
    llm.enqueue("notes", purpose="summary")
    await gate.enter()
    job = asyncio.create_task(gate.background(llm, PROMPT, SUMMARY))
    await asyncio.sleep(0.01)
    assert llm.events == []  # never opened while the user holds the model
    gate.leave()
    assert await job == "notes"


async def test_a_cancelled_wait_for_the_model_gives_its_place_back():
    llm, gate = Recording(), ModelGate()
    llm.enqueue("notes", purpose="summary", wait_for=asyncio.Event())
    job = asyncio.create_task(gate.background(llm, PROMPT, SUMMARY))
    await llm.opened()
    waiter = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, job, return_exceptions=True)
    assert gate.users == 0


async def test_cancelling_a_background_generation_waits_for_the_stream_before_closing_it():
    class SlowToStop(FakeLLM):
        async def stream(self, messages, options):
            try:
                await asyncio.sleep(10)
                yield "never"
            finally:
                await asyncio.sleep(0.01)  # like a backend waiting for its worker thread

    gate = ModelGate()
    job = asyncio.create_task(gate.background(SlowToStop(), PROMPT, SUMMARY))
    await asyncio.sleep(0.01)
    job.cancel()  # shutdown: no "aclose(): asynchronous generator is already running"
    with pytest.raises(asyncio.CancelledError):
        await job
    await asyncio.wait_for(gate.enter(), 1)  # and the model is free again
