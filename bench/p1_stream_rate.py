"""P1: tokens/s of one 128-token reply streamed through ChatService vs the raw llama.cpp loop.

Subject: `ChatService.stream` on the local backend (SQLite store, the shipped default persona with
max_tokens=128), timed from the call until the last chunk has reached the caller and the turn is
stored; tokens are LocalLLM's own count. Baseline: `Llama.generate` on the same loaded model over
the same prompt token ids, with the same seed and sampling (temperature, llama-cpp-python's other
defaults), counting tokens as they come, no detokenization, on the calling thread. Both include the
prompt's prefill. The two produce the same text, which is checked, so they do the same work.
Many short pairs (a 128-token reply is under two seconds here), judged on their quartiles by
`bench.decide`: this machine's noise spreads single pairs by ±15 %.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from bench.decide import Decision, decide
from bench.harness import Context, Row, Stopwatch, alternate, log, median, per_s
from bench.parts import bench_personas, sqlite_store
from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.base import ChatMessage
from nono.core.llm.local_llm import LocalLLM

PROMPT = "Write a long story about a dragon who learns to bake bread."
REPLY_TOKENS = 128
SEED = 1234
GOAL = 0.95


@dataclass
class Run:
    tokens: int
    seconds: float
    text: str

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


async def run(ctx: Context) -> list[Row]:
    pairs = ctx.pick(6, 12)
    runs: list[tuple[list[Run], list[Run]]] = []
    llm = LocalLLM(seed=SEED)
    try:
        personas = bench_personas(max_tokens=REPLY_TOKENS)
        persona = personas.get(personas.default)
        async with sqlite_store(ctx.workdir) as store:
            chat = ChatService(store, llm, personas, ChatLimits())
            prompt = llm.prompt_tokens([ChatMessage("system", persona.system_prompt), ChatMessage("user", PROMPT)])
            users = itertools.count()

            async def subject() -> Run:
                user = f"bench:p1-{next(users)}"  # a fresh user: empty history, the same prompt every time
                before = llm.tokens_generated
                with Stopwatch() as sw:
                    reply = chat.stream(user, PROMPT)
                    async with reply:
                        async for _ in reply:
                            pass
                return Run(llm.tokens_generated - before, sw.seconds, reply.text)

            async def baseline() -> Run:
                return raw_generate(llm, prompt, persona.temperature, persona.top_p)

            async def measure() -> list[float]:
                log(f"{pairs} pairs of raw loop vs ChatService, alternating")
                base, subj = await alternate(pairs, baseline, subject)
                runs.append((base, subj))
                return [s.rate / b.rate for b, s in zip(base, subj, strict=True)]

            log("warm-up")
            await alternate(1, baseline, subject)
            decision = await decide(measure, GOAL, seconds_left=ctx.seconds_left)
    finally:
        await llm.aclose()
    return [report(decision, runs)]


def raw_generate(llm: LocalLLM, prompt: list[int], temperature: float, top_p: float | None) -> Run:
    """The plain llama-cpp-python loop: what the hardware gives without Nono around it."""
    llama = llm.llama
    stop = {llama.token_eos(), *llama.tokenize(b"<|im_end|>", add_bos=False, special=True)}
    sampling = {"temp": temperature} if top_p is None else {"temp": temperature, "top_p": top_p}
    tokens: list[int] = []
    with Stopwatch() as sw:
        llama.reset()
        llama.set_seed(SEED)
        for token in llama.generate(prompt, reset=True, **sampling):
            if token in stop:
                break
            tokens.append(token)
            if len(tokens) >= REPLY_TOKENS:
                break
    text = llama.detokenize(tokens).decode("utf-8", "replace")  # after the clock: only for the equality check
    return Run(len(tokens), sw.seconds, text)


def report(decision: Decision, runs: list[tuple[list[Run], list[Run]]]) -> Row:
    base, subj = runs[-1]  # the run that decided the row (or the last one)
    every = [run for pair in runs for side in pair for run in side]
    same = all(s.text == b.text for base_i, subj_i in runs for b, s in zip(base_i, subj_i, strict=True))
    tokens = sorted({r.tokens for r in every})
    note = (
        f"Ratio = median of per-pair ratios of the deciding run; {decision.describe()}. Tokens per reply: {tokens}. "
        f"Identical text from both paths: {'yes' if same else 'NO (the comparison is not like for like)'}. "
        "Times include the prompt's prefill; the subject also includes the store read and the stored turn."
    )
    return Row(
        "P1",
        f"tok/s, one {REPLY_TOKENS}-token reply through ChatService (local) vs raw `Llama.generate`",
        f"≥ {GOAL:.2f}×",
        per_s(median([r.rate for r in subj])),
        per_s(median([r.rate for r in base])),
        note=note,
        **decision.row_fields(like_for_like=same),
    )
