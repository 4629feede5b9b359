"""P9: time to first token on the real model with facts and a summary at their caps vs without.

Two conversations per round on SQLite, seeded with the same history (so the same window): the
subject's also holds remembered facts filling their cap (256 tokens with their header) and a
summary filling its cap (256 tokens), the baseline's nothing. Their turns alternate (ABBA); each
round uses fresh conversations, so the windows stay the same. Time to first token is from
`ChatService.stream` to the first chunk (store read, prompt building, tokenization, prefill).

What the extra tokens cost the model alone is measured in the same rounds: the tokens the
subject's prompt has beyond the baseline's, prefilled through the same loaded model (its raw
llama.cpp loop, one token generated). The ratio is TTFT(with) ÷ (TTFT(without) + that raw
prefill): 1.0 means memory costs only the prefill of its own tokens.
"""

from __future__ import annotations

import asyncio
import time

from bench.harness import Context, Row, log, median, ms
from bench.parts import DEFAULT_PERSONA, bench_personas, seed_history, sqlite_store, time_to_first_chunk, user_text
from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.base import MESSAGE_OVERHEAD_TOKENS
from nono.core.llm.local_llm import LocalLLM
from nono.core.memory import SUMMARY_HEADER, Recall, build_prompt, facts_that_fit
from nono.core.store.base import Fact, Summary
from nono.core.store.sqlite_store import SQLiteStore

HISTORY = 40  # messages per conversation: 20 in the window, 20 the summary stands for
WORDS = 10
REPLY_TOKENS = 8  # only the first token is timed
SEED = 1234
CAP = 256  # MEMORY_FACTS_TOKENS and MEMORY_SUMMARY_TOKENS (their defaults)
GOAL = 1.15


def fact_texts() -> list[str]:
    return [f"Person {i} prefers tea over coffee and lives near the old harbour in town number {i}." for i in range(60)]


def summary_text(llm: LocalLLM) -> str:
    """A summary as long as its cap allows (the prompt shows it whole)."""
    cap = CAP + llm.count_tokens(SUMMARY_HEADER) + MESSAGE_OVERHEAD_TOKENS + 1
    sentences: list[str] = []
    for i in range(200):
        candidate = [*sentences, f"The user asked about topic {i} and the assistant explained it in detail."]
        if llm.count_tokens(f"{SUMMARY_HEADER}\n{' '.join(candidate)}") + MESSAGE_OVERHEAD_TOKENS > cap:
            break
        sentences = candidate
    return " ".join(sentences)


async def seed(store: SQLiteStore, llm: LocalLLM, user: str, remember: bool, summary: str) -> None:
    now = time.time()
    await seed_history(store, user, HISTORY, now, WORDS)
    if not remember:
        return
    candidates = [Fact(f"f{i}", text, now + i) for i, text in enumerate(fact_texts())]
    shown = facts_that_fit(llm, candidates, CAP)
    for fact in candidates[len(candidates) - shown :]:
        assert await store.add_fact(user, fact, DEFAULT_PERSONA, now, 100)
    session = await store.get_session(user)
    assert session is not None
    covered = HISTORY - 21  # every message before the window
    stored = await store.put_summary(
        user, Summary(summary, covered, "bench", now), revision=0, epoch=session.created_at
    )
    assert stored


def extra_tokens(llm: LocalLLM, chat: ChatService, store_ctx: tuple) -> tuple[list[int], int, int]:
    """The tokens the subject's prompt has beyond the baseline's; both prompts' lengths."""
    window, facts, summary = store_ctx
    persona = chat.personas.get(chat.personas.default)
    limits = chat.limits
    text = user_text(WORDS)
    plain = llm.prompt_tokens(build_prompt(llm, persona, window, text, limits.num_ctx))
    recall = Recall(facts, summary, limits.memory_facts_tokens, limits.memory_summary_tokens)
    full = llm.prompt_tokens(build_prompt(llm, persona, window, text, limits.num_ctx, recall=recall))
    common = next((i for i, (a, b) in enumerate(zip(plain, full, strict=False)) if a != b), len(plain))
    return full[common : common + len(full) - len(plain)], len(plain), len(full)


def raw_prefill(llm: LocalLLM, tokens: list[int]) -> float:
    """Seconds to prefill `tokens` and sample one token with the plain llama.cpp loop (model otherwise idle)."""
    llama = llm.llama
    began = time.perf_counter()
    llama.reset()
    llama.set_seed(SEED)
    generator = llama.generate(tokens, reset=True, temp=0.0)
    next(generator)
    seconds = time.perf_counter() - began
    generator.close()
    return seconds


async def run(ctx: Context) -> list[Row]:
    rounds = ctx.pick(3, 8)
    llm = LocalLLM(seed=SEED)
    try:
        async with sqlite_store(ctx.workdir) as store:
            chat = ChatService(store, llm, bench_personas(max_tokens=REPLY_TOKENS), ChatLimits())
            summary = summary_text(llm)
            summary_tokens = llm.count_tokens(summary)
            ids = iter(range(900_000, 999_999))

            async def turn(remember: bool) -> float:
                user = f"telegram:{next(ids)}"
                await seed(store, llm, user, remember, summary)
                began = time.perf_counter()
                return await time_to_first_chunk(chat, user, user_text(WORDS), began)

            probe = f"telegram:{next(ids)}"
            await seed(store, llm, probe, True, summary)
            context = await store.load_context(probe, chat.limits.max_context_messages)
            assert context.summary is not None and context.facts
            extra, plain_len, full_len = extra_tokens(llm, chat, (context.messages, context.facts, context.summary))

            log("warm-up")
            await turn(False)
            await turn(True)
            await asyncio.to_thread(raw_prefill, llm, extra)
            log(f"{rounds} rounds: without, with (ABBA) and the raw prefill of the {len(extra)} extra tokens")
            without: list[float] = []
            with_memory: list[float] = []
            raw: list[float] = []
            for i in range(rounds):
                if i % 2 == 0:
                    without.append(await turn(False))
                    with_memory.append(await turn(True))
                else:
                    with_memory.append(await turn(True))
                    without.append(await turn(False))
                raw.append(await asyncio.to_thread(raw_prefill, llm, extra))
    finally:
        await llm.aclose()
    ratios = [w / (b + r) for b, w, r in zip(without, with_memory, raw, strict=True)]
    ratio = median(ratios)
    return [
        Row(
            "P9",
            f"time to first token (real model), facts + summary at their caps ({CAP} tokens each) vs none",
            f"≤ {GOAL:.2f}× (vs without + raw prefill of the extra tokens)",
            ms(median(with_memory), 0),
            f"without {ms(median(without), 0)} + raw prefill of {len(extra)} tokens {ms(median(raw), 0)}",
            ratio,
            ratio <= GOAL,
            f"{rounds} rounds, with/without alternating (ABBA), fresh conversations each round; ratio = median of "
            f"per-round TTFT(with) ÷ (TTFT(without) + raw prefill) ({', '.join(f'{x:.3f}' for x in ratios)}). "
            f"Prompts: {plain_len} tokens without, {full_len} with ({len(context.facts)} facts, a summary of "
            f"{summary_tokens} tokens). Raw prefill: exactly the extra token ids through the loaded "
            "model's plain llama.cpp loop, one token sampled.",
        )
    ]
