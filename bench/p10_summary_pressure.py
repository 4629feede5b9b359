"""P10: a user's time to first token while 20 conversations wait for their summaries vs while none do.

Both sides are a `ChatService` with MEMORY_SUMMARY on, on SQLite and the one local model. The
user's conversation is short (inside its window, so their own turn schedules nothing) and the same
on both sides. Subject: a fresh service whose summarizer has 20 conversations to condense (each
seeded past its window); once its first summary generation has started, the user waits a set time
(the offsets below, so they arrive in its prefill and in its decoding) and then sends a message.
The summary gives the model up at its next token (or at the end of the prefill it is in); the
preempted job is restarted after the turn. Baseline: the same turn with nothing pending.
Alternating (ABBA), fresh conversations every round; the busy service is closed after each round.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from bench.harness import Context, Row, log, median, ms
from bench.parts import bench_personas, seed_history, sqlite_store, time_to_first_chunk, user_text
from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.local_llm import LocalLLM
from nono.core.store.sqlite_store import SQLiteStore

PENDING = 20
PENDING_HISTORY = 60  # 40 messages outside the 20-message window: one summary prompt of ~1,400 tokens each
USER_HISTORY = 10
WORDS = 10
REPLY_TOKENS = 8  # only the first token is timed
SEED = 1234
#: Seconds after the summarizer started generating when the user's message arrives, cycled per round.
OFFSETS = (0.5, 2.0, 5.0, 1.0, 3.5, 8.0)
GOAL = 1.10
#: How long closing a busy service (stopping its summarizer) may take before the round is marked.
CLOSE_WAIT = 30.0
#: Offsets of the rounds whose summarizer did not stop in time.
stuck: list[float] = []


async def run(ctx: Context) -> list[Row]:
    rounds = ctx.pick(3, 6)
    llm = LocalLLM(seed=SEED)
    limits = ChatLimits(memory_summary=True)
    ids = itertools.count(700_000)
    try:
        async with sqlite_store(ctx.workdir) as store:
            personas = bench_personas(max_tokens=REPLY_TOKENS)
            idle = ChatService(store, llm, personas, limits)

            async def user_turn(chat: ChatService) -> float:
                user = f"telegram:{next(ids)}"
                await seed_history(store, user, USER_HISTORY, time.time(), WORDS)
                began = time.perf_counter()
                return await time_to_first_chunk(chat, user, user_text(WORDS), began)

            async def base() -> float:
                assert llm.queue_depth == 0
                return await user_turn(idle)

            offsets = itertools.cycle(OFFSETS)
            used: list[float] = []

            async def subject() -> float:
                offset = next(offsets)
                used.append(offset)
                return await _under_pressure(store, llm, personas, limits, ids, offset, user_turn)

            log("warm-up")
            await base()
            log(f"{rounds} rounds: a user turn with {PENDING} summaries pending vs none, alternating")
            idle_ttft: list[float] = []
            busy_ttft: list[float] = []
            for i in range(rounds):
                if stuck:
                    break
                if i % 2 == 0:
                    idle_ttft.append(await base())
                    busy_ttft.append(await subject())
                else:
                    busy_ttft.append(await subject())
                    if stuck:
                        break
                    idle_ttft.append(await base())
            await idle.aclose()
    finally:
        if not stuck:  # a stuck generation would keep the model's worker (and so its close) waiting
            await llm.aclose()
    ratios = [b / a for a, b in zip(idle_ttft, busy_ttft, strict=False)]
    ratio = median(ratios)
    shown = ", ".join(f"{r:.2f} (at {o:g} s)" for r, o in zip(ratios, used, strict=False))
    return [
        Row(
            "P10",
            f"time to first token (real model) with {PENDING} conversations' summaries pending vs none",
            f"≤ {GOAL:.2f}×",
            ms(median(busy_ttft), 0),
            ms(median(idle_ttft), 0),
            ratio,
            ratio <= GOAL and not stuck,
            f"{len(ratios)} of {rounds} rounds, alternating; ratio = median of per-round ratios, each with the time "
            f"after the "
            f"summarizer started generating when the user's message arrived: {shown}. Pending conversations hold "
            f"{PENDING_HISTORY} messages each ({PENDING_HISTORY - limits.max_context_messages} outside the window); "
            f"the user's holds {USER_HISTORY}. "
            + (
                f"The busy service's summarizer did not stop within {CLOSE_WAIT:g} s of `aclose()` in the rounds "
                f"at {', '.join(f'{o:g} s' for o in stuck)}."
                if stuck
                else ""
            ),
        )
    ]


async def _under_pressure(
    store: SQLiteStore, llm: LocalLLM, personas, limits: ChatLimits, ids, offset: float, user_turn
) -> float:
    """A fresh service, its summarizer busy with PENDING conversations; the user's turn `offset` s into it."""
    busy = ChatService(store, llm, personas, limits)
    summaries = busy.summaries
    assert summaries is not None
    try:
        now = time.time()
        pending = [f"telegram:{next(ids)}" for _ in range(PENDING)]
        for conversation in pending:
            await seed_history(store, conversation, PENDING_HISTORY, now, WORDS)
        for conversation in pending:
            summaries.schedule(conversation)
        log(f"  {PENDING} summaries scheduled")
        while llm.queue_depth == 0:  # wait until the first summary holds the model
            await asyncio.sleep(0.005)
        log(f"  the first summary is generating; the user arrives in {offset:g} s")
        await asyncio.sleep(offset)
        ttft = await user_turn(busy)
        log(f"  user's first token after {ttft:.2f} s")
        return ttft
    finally:
        closing = asyncio.create_task(busy.aclose())
        began = time.perf_counter()
        while (not closing.done() or llm.queue_depth) and time.perf_counter() - began < CLOSE_WAIT:
            await asyncio.sleep(0.05)
        if closing.done() and not llm.queue_depth:
            log(f"  busy service closed in {time.perf_counter() - began:.1f} s")
        else:
            log(f"  the busy service's summarizer did not stop within {CLOSE_WAIT:g} s; no further rounds")
            stuck.append(offset)
