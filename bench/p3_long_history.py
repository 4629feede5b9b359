"""P3: a turn for a user with 10,000 stored messages costs what it costs with 10 (SQLite and Redis).

Per store, three users take turns in rotating order: one with 10 stored messages and one with exactly
a full window (20), both re-seeded before each of their turns outside the clock, and one with 10,000
(growing by 2 per turn). Each time is the whole `ChatService` turn with a zero-latency FakeLLM,
store read and write included. The 20-message user separates the two effects: 10 → 20 is the window
filling up (the core loads at most MAX_CONTEXT_MESSAGES), 20 → 10,000 is the history growing, which
should cost nothing. Messages are long enough (~200 estimated tokens) that the token budget, not
the window, decides what is sent, so the prompt tokens show whether a long history changes the
prompt: they should be equal.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from typing import Any

from bench.harness import Context, Row, log, median, ms
from bench.parts import (
    assistant_text,
    bench_personas,
    redis_store,
    seed_history,
    sqlite_store,
    user_text,
)
from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.base import MESSAGE_OVERHEAD_TOKENS
from nono.core.llm.fake import FakeLLM
from nono.core.memory import token_budget

SMALL, BIG = 10, 10_000
WORDS = 60  # ~200 estimated tokens per message: about 7 fit the budget, fewer than either history holds
# The turn says what the seeded messages say, so the users' windows stay alike as turns are added.
TEXT, REPLY = user_text(WORDS), assistant_text(WORDS)
GOAL = 1.10


async def run(ctx: Context) -> list[Row]:
    rounds = ctx.pick(60, 300)
    rows: list[Row] = []
    backends: list[tuple[str, AbstractAsyncContextManager[Any]]] = [
        ("SQLite", sqlite_store(ctx.workdir)),
        ("Redis", redis_store(ctx.redis_url)),
    ]
    for name, opened in backends:
        async with opened as store:
            rows += await measure(name, store, rounds)
    return rows


async def measure(name: str, store: Any, rounds: int) -> list[Row]:
    llm = FakeLLM(default_reply=REPLY)
    personas = bench_personas()
    limits = ChatLimits()
    chat = ChatService(store, llm, personas, limits)
    reseeded = {"telegram:310": SMALL, "telegram:320": limits.max_context_messages}
    users = [*reseeded, "telegram:399"]
    log(f"{name}: seeding {BIG:,} messages")
    await seed_history(store, users[-1], BIG, time.time(), WORDS)
    times: dict[str, list[float]] = {user: [] for user in users}
    tokens: dict[str, list[int]] = {user: [] for user in users}

    async def turn(user: str) -> None:
        if user in reseeded:  # back to exactly that many messages, off the clock
            await store.clear(user)
            await seed_history(store, user, reseeded[user], time.time(), WORDS)
        began = time.perf_counter()
        await chat.reply(user, TEXT)
        times[user].append(time.perf_counter() - began)
        sent = llm.history[-1].messages
        tokens[user].append(sum(llm.count_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in sent))

    log(f"{name}: {rounds} turns each, in rotating order")
    for i in range(rounds + 3):
        for k in range(len(users)):
            await turn(users[(i + k) % len(users)])
        if i == 2:  # the first rounds were warm-up
            for user in users:
                times[user].clear()
                tokens[user].clear()
    persona = personas.get(personas.default)
    budget = (
        token_budget(llm, persona, limits.num_ctx) + llm.count_tokens(persona.system_prompt) + MESSAGE_OVERHEAD_TOKENS
    )
    small, window, big = (times[user] for user in users)
    return report(name, small, window, big, tokens[users[0]], tokens[users[-1]], budget)


def report(name: str, small, window, big, tok_small: list[int], tok_big: list[int], budget: int) -> list[Row]:
    r = median(big) / median(small)
    ts, tb = sorted(set(tok_small)), sorted(set(tok_big))
    equal = ts == tb and max(tb) <= budget
    return [
        Row(
            "P3",
            f"{name}: core time per turn, {BIG:,} stored messages vs {SMALL}",
            f"≤ {GOAL:.2f}×",
            ms(median(big), 3),
            ms(median(small), 3),
            r,
            r <= GOAL,
            f"{name}: {len(big)} turns per user; zero-latency FakeLLM; whole turn incl. store read and write. "
            f"A user with exactly a full window (20 messages): {ms(median(window), 3)}, so 10 → 20 messages costs "
            f"{median(window) / median(small):.2f}× and 20 → {BIG:,} costs {median(big) / median(window):.2f}×.",
        ),
        Row(
            "P3",
            f"{name}: prompt tokens sent, {BIG:,} vs {SMALL} stored messages",
            "equal, within budget",
            f"{', '.join(map(str, tb))} tokens",
            f"{', '.join(map(str, ts))} tokens",
            median(tok_big) / median(tok_small),
            equal,
            f"{name}: budget for system prompt + history + new message = {budget} tokens "
            "(NUM_CTX 2048 − the persona's 384-token reply budget), counted the way the core counts them.",
        ),
    ]
