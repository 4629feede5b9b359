"""Exact token counts from an OpenAI-compatible server's tokenizer, where it has one.

The OpenAI API has no tokenizer, but the llama.cpp servers do: llama.cpp's own server at
`POST {root}/tokenize {"content": text}`, llama-cpp-python's `llama_cpp.server` at
`POST {root}/extras/tokenize {"input": text, "model": name}`; both answer `{"tokens": [...]}`.
Until a text is counted there, the conservative estimate stands in. A server that answers 4xx
on both is never asked again.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import openai

from nono.core.llm.base import estimate_tokens

log = logging.getLogger(__name__)

#: Exact counts kept (least recently used dropped first).
CACHE_SIZE = 4096
#: Texts estimated since the last `learn`; the newest are the prompt about to be sent.
MISSES_KEPT = 1024
#: Texts one `learn` tokenizes (the newest misses), and how many requests are in flight at once.
PER_LEARN = 128
CONCURRENCY = 4
#: Tokenizing must never hold a reply up for long: a slower server keeps its estimates this turn.
MAX_WAIT = 5.0
#: What detection sends: not a user's words to an address that may not be a tokenizer at all.
PROBE = "Hello"


@dataclass(frozen=True)
class Tokenizer:
    """One server family's tokenize endpoint."""

    path: str
    #: The body field that carries the text.
    field: str
    send_model: bool


TOKENIZERS = (Tokenizer("/tokenize", "content", False), Tokenizer("/extras/tokenize", "input", True))


def server_root(base_url: str) -> str:
    """The server's root: OPENAI_BASE_URL without its trailing `/v1` (the tokenizers live outside it)."""
    return re.sub(r"/v1$", "", base_url.rstrip("/"))


class _NotATokenizer(Exception):
    """The endpoint answered, but not as a tokenizer does (4xx, or no token list)."""


class TokenCounts:
    """Exact counts learnt from the server's tokenizer; the estimate for what it has not counted yet."""

    def __init__(self, client: openai.AsyncOpenAI, base_url: str, model: str, timeout: float) -> None:
        self._client = client
        self._root = server_root(base_url)
        self._model = model
        self._timeout = min(timeout, MAX_WAIT)
        self._known: OrderedDict[str, int] = OrderedDict()
        self._misses: OrderedDict[str, None] = OrderedDict()
        self._tokenizer: Tokenizer | None = None
        #: Both endpoints refused: counts stay estimates and nothing is remembered.
        self.absent = False

    def count(self, text: str) -> int:
        """The exact count when known, else the estimate (and `text` is remembered for `learn`)."""
        known = self._known.get(text)
        if known is not None:
            self._known.move_to_end(text)
            return known
        if not self.absent:
            self._misses[text] = None
            self._misses.move_to_end(text)
            if len(self._misses) > MISSES_KEPT:
                self._misses.popitem(last=False)
        return estimate_tokens(text)

    async def learn(self) -> bool:
        """Count the texts estimated since the last call; True if any count was learnt. Never raises."""
        if self.absent or not self._misses:
            return False
        if self._tokenizer is None:
            self._tokenizer = await self._detect()
            if self._tokenizer is None:
                return False
        tokenizer = self._tokenizer
        texts = list(self._misses)[-PER_LEARN:]
        self._misses.clear()  # older misses are stale prompts: counted again, they come back
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(text: str) -> int:
            async with gate:
                return await self._tokenize(tokenizer, text)

        tasks = {asyncio.create_task(one(text)): text for text in texts}
        try:  # the whole batch within the wait bound: what is not counted by then stays estimated
            done, pending = await asyncio.wait(tasks, timeout=self._timeout)
        finally:
            for task in tasks:
                task.cancel()
        if pending:
            await asyncio.wait(pending)
        learnt, failures = 0, list[BaseException]()
        for task, text in tasks.items():
            if task not in done:
                failures.append(TimeoutError(f"not counted within {self._timeout:g} s"))
            elif (error := task.exception()) is not None:
                failures.append(error)
            else:
                self._remember(text, task.result())
                learnt += 1
        if failures:
            _log_failure("llm_tokenize_failed", failures[0], root=self._root, failed=len(failures))
        return learnt > 0

    async def _detect(self) -> Tokenizer | None:
        """The endpoint that tokenizes, or None: absent (both refused) or unknown yet (the server is down)."""
        for tokenizer in TOKENIZERS:
            try:
                self._remember(PROBE, await self._tokenize(tokenizer, PROBE))
            except _NotATokenizer:
                continue
            except Exception as exc:  # down, slow, 5xx: ask again next time
                _log_failure("llm_tokenizer_unknown", exc, root=self._root)
                return None
            log.info("llm_tokenizer_found", extra={"root": self._root, "path": tokenizer.path})
            return tokenizer
        log.info("llm_no_tokenizer", extra={"root": self._root, "counts": "estimated"})
        self.absent = True
        self._misses.clear()
        return None

    async def _tokenize(self, tokenizer: Tokenizer, text: str) -> int:
        body: dict[str, Any] = {tokenizer.field: text}
        if tokenizer.send_model:
            body["model"] = self._model
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._client.post(self._root + tokenizer.path, body=body, cast_to=dict)
        except openai.APIStatusError as exc:
            if exc.status_code < 500:
                raise _NotATokenizer(exc.status_code) from exc
            raise
        tokens = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, list):
            raise _NotATokenizer("no token list in the answer")
        return len(tokens)

    def _remember(self, text: str, count: int) -> None:
        self._known[text] = count
        self._known.move_to_end(text)
        if len(self._known) > CACHE_SIZE:
            self._known.popitem(last=False)


def _log_failure(event: str, exc: BaseException, **where: object) -> None:
    """A server that is down or slow is expected (a warning); anything else is a bug here (with its traceback)."""
    if isinstance(exc, (openai.OpenAIError, TimeoutError, ValueError, _NotATokenizer)):
        log.warning(event, extra={**where, "error": repr(exc)})
    else:
        log.error(event, extra=where, exc_info=exc)
