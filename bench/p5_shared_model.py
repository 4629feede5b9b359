"""P5: ten users at once on the one local model — throughput, fairness of the line, and saying "busy" fast.

Baseline: one user alone, a reply of N tokens (the shipped persona's sampling, a fixed seed, so every
reply is the same N tokens). Subject: ten new users call `ChatService.stream` at the same moment with
the same message. Measured in the same process, alternating:

- aggregate tokens/s of the ten (all tokens ÷ wall time until the last reply is stored) vs the single
  stream's tokens/s;
- each user's time to first token vs the FIFO bound: the k-th user served (k = 0…9) cannot start before
  the k replies ahead of it are done, so its bound is k × (single reply time) + (single time to first
  token); the row shows the worst user;
- with LLM_MAX_QUEUE = 10 (the ten fill it: one generating, nine waiting), an eleventh user is told the
  bot is busy: time from `stream()` to the Busy error, while the queue is full.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

from bench.harness import Context, Row, alternate, log, median, ms, per_s
from bench.parts import bench_personas, sqlite_store, time_to_first_chunk
from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import Busy
from nono.core.llm.local_llm import LocalLLM

USERS = 10
PROMPT = "Write a long story about a dragon who learns to bake bread."
SEED = 1234
GOAL_RATE, GOAL_FIFO, GOAL_BUSY = 0.95, 1.2, 0.010


@dataclass
class Single:
    tokens: int
    seconds: float
    ttft: float


@dataclass
class Crowd:
    tokens: int
    seconds: float
    ttfts: list[float]  # in the order users were served
    busy: list[float] = field(default_factory=list)


async def run(ctx: Context) -> list[Row]:
    reply_tokens, rounds = ctx.pick((64, 2), (128, 3))
    llm = LocalLLM(seed=SEED, max_queue=USERS)
    try:
        async with sqlite_store(ctx.workdir) as store:
            chat = ChatService(store, llm, bench_personas(max_tokens=reply_tokens), ChatLimits())
            ids = itertools.count(1000)

            async def single() -> Single:
                before = llm.tokens_generated
                began = time.perf_counter()
                first = await time_to_first_chunk(chat, f"telegram:{next(ids)}", PROMPT, began)
                return Single(llm.tokens_generated - before, time.perf_counter() - began, first)

            async def crowd() -> Crowd:
                return await _crowd(chat, llm, ids)

            log("warm-up")
            await single()
            log(f"{rounds} rounds: one user alone vs {USERS} at once, alternating")
            singles, crowds = await alternate(rounds, single, crowd)
    finally:
        await llm.aclose()
    return report(singles, crowds, reply_tokens)


async def _crowd(chat: ChatService, llm: LocalLLM, ids: itertools.count) -> Crowd:
    before = llm.tokens_generated
    began = time.perf_counter()
    tasks = [
        asyncio.create_task(time_to_first_chunk(chat, f"telegram:{next(ids)}", PROMPT, began)) for _ in range(USERS)
    ]
    busy = await _probe_busy(chat, llm, ids, tasks)
    ttfts = sorted(await asyncio.gather(*tasks))
    return Crowd(llm.tokens_generated - before, time.perf_counter() - began, ttfts, busy)


async def _probe_busy(chat: ChatService, llm: LocalLLM, ids: itertools.count, tasks: list) -> list[float]:
    """While the line is full, an eleventh user is turned away: how long until they hear it."""
    while llm.queue_depth < USERS and not any(task.done() for task in tasks):
        await asyncio.sleep(0.005)
    times = []
    for _ in range(5):
        if llm.queue_depth < USERS:
            break  # the first reply finished: the line is no longer full
        began = time.perf_counter()
        try:
            await chat.reply(f"telegram:{next(ids)}", PROMPT)
        except Busy:
            times.append(time.perf_counter() - began)
        else:
            raise AssertionError("an eleventh user was answered while the queue was full")
        await asyncio.sleep(0.05)
    return times


def report(singles: list[Single], crowds: list[Crowd], reply_tokens: int) -> list[Row]:
    # Each crowd is judged against the single run next to it (ABBA order), so a change in the
    # machine's load between rounds does not show up as unfairness.
    rate_ratio = median([(c.tokens / c.seconds) / (s.tokens / s.seconds) for s, c in zip(singles, crowds, strict=True)])
    per_user = [
        [t / (k * s.seconds + s.ttft) for k, t in enumerate(c.ttfts)] for s, c in zip(singles, crowds, strict=True)
    ]
    worst = max(max(users) for users in per_user)
    shown = "; ".join(", ".join(f"{r:.2f}" for r in users) for users in per_user)
    t_single, ttft_single = median([s.seconds for s in singles]), median([s.ttft for s in singles])
    busy = [t for c in crowds for t in c.busy]
    return [
        Row(
            "P5",
            f"aggregate tok/s, {USERS} users at once vs one alone (local model, {reply_tokens}-token replies)",
            f"≥ {GOAL_RATE:.2f}×",
            per_s(median([c.tokens / c.seconds for c in crowds])),
            per_s(median([s.tokens / s.seconds for s in singles])),
            rate_ratio,
            rate_ratio >= GOAL_RATE,
            f"{len(crowds)} rounds of each, alternating; ratio = median of per-round ratios; tokens per single "
            f"reply {sorted({s.tokens for s in singles})}.",
        ),
        Row(
            "P5",
            "worst user's time to first token vs the FIFO bound (k × single reply + single TTFT)",
            f"≤ {GOAL_FIFO:.1f}×",
            f"last served: {ms(median([c.ttfts[-1] for c in crowds]), 0)}",
            f"single: reply {ms(t_single, 0)}, TTFT {ms(ttft_single, 0)}",
            worst,
            worst <= GOAL_FIFO,
            f"Ratio per user, in serving order, per round: {shown}.",
        ),
        Row(
            "P5",
            "time to tell an 11th user the bot is busy (LLM_MAX_QUEUE = 10, queue full)",
            f"≤ {ms(GOAL_BUSY, 0)}",
            f"median {ms(median(busy))}, max {ms(max(busy)) if busy else '—'}",
            ok=bool(busy) and median(busy) <= GOAL_BUSY,
            note=f"{len(busy)} probes, each a whole `ChatService` turn (store read, prompt built and tokenized) "
            "turned away by the model's queue; nothing stored. Judged on the median.",
        ),
    ]
