"""P6: time to first token on the real model for a user with 10,000 stored messages vs one with 200.

Two users on SQLite, seeded with the same kind of conversation (every user message alike, every
answer alike), so their newest windows — and so their prompts — are the same and only the length
of the history differs. Their turns alternate (ABBA); the model's seed is fixed, so both get the same
replies and their windows stay the same as turns are added (checked at the end). Time to first token
is from `ChatService.stream` to the first chunk, store read, prompt building, tokenization and prefill
included.
"""

from __future__ import annotations

import time

from bench.harness import Context, Row, alternate, log, median, ms
from bench.parts import (
    bench_personas,
    seed_history,
    sqlite_store,
    time_to_first_chunk,
    user_text,
)
from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.local_llm import LocalLLM
from nono.core.memory import build_prompt

SHORT, LONG = 200, 10_000
WORDS = 10
REPLY_TOKENS = 16  # only the first token is timed; a short reply keeps the run short
SEED = 1234
GOAL = 1.2


async def run(ctx: Context) -> list[Row]:
    pairs = ctx.pick(2, 6)
    llm = LocalLLM(seed=SEED)
    try:
        async with sqlite_store(ctx.workdir) as store:
            chat = ChatService(store, llm, bench_personas(max_tokens=REPLY_TOKENS), ChatLimits())
            short, long = "telegram:620", "telegram:621"
            log(f"seeding {SHORT} and {LONG:,} messages")
            for user, count in ((short, SHORT), (long, LONG)):
                await seed_history(store, user, count, time.time(), WORDS)

            async def turn(user: str) -> float:
                began = time.perf_counter()
                return await time_to_first_chunk(chat, user, user_text(WORDS), began)

            async def base() -> float:
                return await turn(short)

            async def subject() -> float:
                return await turn(long)

            log("warm-up")
            await alternate(1, base, subject)
            log(f"{pairs} pairs, alternating")
            ttft_short, ttft_long = await alternate(pairs, base, subject)
            windows = [await store.history(u, chat.limits.max_context_messages) for u in (short, long)]
            persona = chat.personas.get(chat.personas.default)
            prompt = llm.prompt_tokens(build_prompt(llm, persona, windows[1], user_text(WORDS), chat.limits.num_ctx))
    finally:
        await llm.aclose()
    ratio = median([b / a for a, b in zip(ttft_short, ttft_long, strict=True)])
    same = [(m.role, m.content) for m in windows[0]] == [(m.role, m.content) for m in windows[1]]
    return [
        Row(
            "P6",
            f"time to first token (real model), {LONG:,}-message history vs {SHORT}",
            f"≤ {GOAL:.1f}×",
            ms(median(ttft_long), 0),
            ms(median(ttft_short), 0),
            ratio,
            ratio <= GOAL and same,
            f"{pairs} alternating pairs; ratio = median of per-pair ratios "
            f"({', '.join(f'{b / a:.3f}' for a, b in zip(ttft_short, ttft_long, strict=True))}). "
            f"Prompt: {len(prompt)} tokens (the window of {chat.limits.max_context_messages} messages). "
            f"Same newest window (so the same prompt) for both users at the end: {'yes' if same else 'NO'}.",
        )
    ]
