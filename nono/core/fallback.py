"""Opening a reply's stream on the first backend of its chain that answers (LLM_FALLBACK).

A backend that is down or busy before its first chunk hands the reply to the next one, with the
prompt cut again to that backend's token count. A reply that has started is never switched: the
user would read the start of one model's answer and the end of another's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from nono.core.chunks import ChunkReader
from nono.core.errors import ServiceUnavailable
from nono.core.llm.base import LLM, ChatMessage, GenerationOptions, close_stream
from nono.core.turns import TurnRecord

log = logging.getLogger(__name__)


class PromptFor(Protocol):
    """The prompt for one backend; `own`: it is the persona's own (then its `model:` applies)."""

    def __call__(self, llm: LLM, *, own: bool) -> tuple[list[ChatMessage], GenerationOptions]: ...


async def open_first(
    chain: Sequence[LLM], prompt_for: PromptFor, reader: ChunkReader, record: TurnRecord
) -> tuple[AsyncIterator[str], str | None]:
    """The stream of the first backend of `chain` that answers, and its first non-empty chunk (None: it said nothing).

    `record` learns which backend answered and which ones were stood in for. The last backend's
    failure, or any failure another backend would not fix, is raised as it is.
    """
    last = len(chain) - 1
    for index, llm in enumerate(chain):
        messages, options = prompt_for(llm, own=index == 0)
        if await llm.learn_counts():  # the server's tokenizer counted what was estimated: cut again, exactly
            messages, options = prompt_for(llm, own=index == 0)
        stream = llm.stream(messages, options)
        try:
            chunk = await reader.next(stream)
            while chunk == "":
                chunk = await reader.next(stream)
        except ServiceUnavailable as exc:
            await close_stream(stream)
            if index == last or not getattr(exc, "fallback", False):
                raise
            record.fell_back = (*record.fell_back, llm.name)
            log.warning("llm_fallback", extra={"backend": llm.name, "error": exc.code, "next": chain[index + 1].name})
            continue
        except BaseException:
            await close_stream(stream)
            raise
        record.backend = llm.name
        return stream, chunk
    raise AssertionError("a backend chain is never empty")
