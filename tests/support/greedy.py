"""The reference a temperature-0 reply is checked against: a direct greedy generation.

Deliberately independent of LocalLLM's streaming code (worker thread, hand-off, incremental
UTF-8): the plain `Llama.generate` loop over the same prompt token ids, every token collected,
detokenized once at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

from nono.core.llm.base import ChatMessage
from nono.core.llm.local_llm import LocalLLM


def greedy_reply(llm: LocalLLM, messages: Sequence[ChatMessage], max_tokens: int) -> str:
    """What SmolLM2 answers to `messages` at temperature 0 (call it while `llm` is idle)."""
    assert llm.queue_depth == 0, "greedy_reply shares the model: run it while no generation is in progress"
    llama = llm.llama
    stop = {llama.token_eos(), *llama.tokenize(b"<|im_end|>", add_bos=False, special=True)}
    tokens: list[int] = []
    llama.reset()  # evaluate the whole prompt, as the backend does
    for token in llama.generate(llm.prompt_tokens(messages), temp=0.0, reset=True):
        if token in stop or len(tokens) >= max_tokens:
            break
        tokens.append(token)
    return llama.detokenize(tokens).decode("utf-8", errors="replace")
