"""P12: tokens/s of one reply streamed through Nono's `openai` backend vs the `openai` client alone, same server.

Both sides talk to the same real `llama_cpp.server` (llama-cpp-python's OpenAI-compatible server,
serving the bundled SmolLM2 on a loopback port, as the tests start it), one request at a time.
Subject: `OpenAILLM.stream` (the backend `LLM_BACKEND=openai` builds), from the call until its last
chunk has reached the caller. Baseline: `AsyncOpenAI().chat.completions.create(stream=True)`, the
official client on its own, read up to the chunk that carries the finish_reason, as the backend
reads. Same messages (the shipped default persona's system prompt and P1's prompt), same
max_tokens, temperature 0: greedy, so both get the same text, which is checked. Tokens are the
reply's tokens: max_tokens when the server stopped the reply at that limit (finish_reason
"length", which the prompt is chosen to reach), otherwise the server's own count of the text
(`/extras/tokenize/count`). Many short pairs, judged on their quartiles by `bench.decide`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import httpx
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from bench.decide import Decision, decide
from bench.harness import Context, Row, Stopwatch, alternate, log, median, per_s
from bench.parts import bench_personas
from nono.core.llm.base import ChatMessage, GenerationOptions
from nono.core.llm.openai_llm import OpenAILLM
from tests.support.llama_server import LlamaServer, llama_server

PROMPT = "Write a long story about a dragon who learns to bake bread."
REPLY_TOKENS = 128
GOAL = 0.95
#: LLM_TIMEOUT's default: a reply takes about two seconds here; only a hung server would reach it.
TIMEOUT = 60.0
#: LLM_MAX_QUEUE's default (one reply at a time is ever asked for here).
MAX_QUEUE = 32


@dataclass
class Run:
    seconds: float
    text: str
    #: The server's finish_reason (the baseline sees it; the backend's stream yields text only).
    finish: str | None = None


async def run(ctx: Context) -> list[Row]:
    pairs = ctx.pick(6, 12)
    persona = bench_personas().get(bench_personas().default)
    messages = [ChatMessage("system", persona.system_prompt), ChatMessage("user", PROMPT)]
    runs: list[tuple[list[Run], list[Run]]] = []
    log("starting llama_cpp.server")
    with llama_server() as server:
        llm = OpenAILLM(
            base_url=server.base_url, api_key=None, model=server.model, headers={}, timeout=TIMEOUT, max_queue=MAX_QUEUE
        )
        client = AsyncOpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0, timeout=TIMEOUT)
        options = GenerationOptions(temperature=0.0, max_tokens=REPLY_TOKENS, model=server.model)
        try:

            async def subject() -> Run:
                chunks: list[str] = []
                with Stopwatch() as sw:
                    async for chunk in llm.stream(messages, options):
                        chunks.append(chunk)
                return Run(sw.seconds, "".join(chunks))

            async def baseline() -> Run:
                return await direct(client, server.model, messages)

            async def measure() -> list[float]:
                log(f"{pairs} pairs of the openai client alone vs the openai backend, alternating")
                base, subj = await alternate(pairs, baseline, subject)
                runs.append((base, subj))
                # Same server, same text, so the same tokens: the ratio of rates is the inverse ratio of times.
                return [b.seconds / s.seconds for b, s in zip(base, subj, strict=True)]

            log("warm-up")
            await alternate(1, baseline, subject)
            decision = await decide(measure, GOAL, seconds_left=ctx.seconds_left)
            tokens = await reply_tokens(server, runs[-1][0][0])
        finally:
            await llm.aclose()
            await client.close()
    return [report(decision, runs, tokens)]


async def direct(client: AsyncOpenAI, model: str, messages: list[ChatMessage]) -> Run:
    """The official client streaming on its own: what the server gives without Nono around it."""
    parts: list[str] = []
    finish: str | None = None
    with Stopwatch() as sw:
        sent = cast("list[ChatCompletionMessageParam]", [{"role": m.role, "content": m.content} for m in messages])
        stream = await client.chat.completions.create(
            model=model,
            messages=sent,
            max_tokens=REPLY_TOKENS,
            temperature=0.0,
            stream=True,
        )
        try:
            async for chunk in stream:
                if chunk.choices:
                    choice = chunk.choices[0]
                    if choice.delta.content:
                        parts.append(choice.delta.content)
                    if choice.finish_reason is not None:
                        finish = choice.finish_reason
                        break  # where the backend stops reading too: what follows ([DONE]) carries no text
        finally:
            await stream.close()
    return Run(sw.seconds, "".join(parts), finish)


async def reply_tokens(server: LlamaServer, reply: Run) -> int:
    """The reply's tokens: exactly max_tokens when the server stopped there, else its tokenizer's count."""
    if reply.finish == "length":
        return REPLY_TOKENS
    root = server.base_url.removesuffix("/v1")
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        answer = await http.post(f"{root}/extras/tokenize/count", json={"input": reply.text})
        answer.raise_for_status()
        return int(answer.json()["count"])


def report(decision: Decision, runs: list[tuple[list[Run], list[Run]]], tokens: int) -> Row:
    base, subj = runs[-1]  # the run that decided the row (or the last one)
    texts = {run.text for pair in runs for side in pair for run in side}
    finishes = sorted({run.finish or "?" for pair in runs for run in pair[0]})
    same = len(texts) == 1 and "" not in texts
    note = (
        f"Ratio = median of per-pair ratios of the deciding run; {decision.describe()}. "
        f"Tokens per reply: {tokens} (finish_reason {', '.join(finishes)}). "
        f"Identical text from both paths, every pair: {'yes' if same else 'NO (the comparison is not like for like)'}. "
        "Both sides stream from the same llama_cpp.server (one thread per core) on a loopback port; times run from the "
        "call to the last chunk."
    )
    return Row(
        "P12",
        f"tok/s, one {REPLY_TOKENS}-token reply through the `openai` backend vs the `openai` client alone "
        "(same llama_cpp.server)",
        f"≥ {GOAL:.2f}×",
        per_s(median([tokens / r.seconds for r in subj])),
        per_s(median([tokens / r.seconds for r in base])),
        note=note,
        **decision.row_fields(like_for_like=same),
    )
