"""A scripted LLM for tests and fuzzing: enqueue replies, inspect what it was sent.

It fails loudly: asked for a reply when nothing is enqueued (and no explicit
`default_reply` was given), it raises AssertionError instead of inventing text.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from nono.core.llm.base import ChatMessage, GenerationOptions, ModelInfo, estimate_tokens


@dataclass
class _Script:
    chunks: list[str]
    delay: float = 0.0
    error: BaseException | None = None
    wait_for: asyncio.Event | None = None


@dataclass(frozen=True)
class Prompt:
    """One recorded call: what the model received."""

    messages: list[ChatMessage]
    options: GenerationOptions

    @property
    def system(self) -> str | None:
        return self.messages[0].content if self.messages and self.messages[0].role == "system" else None


class FakeLLM:
    """Scripted replies, recorded prompts."""

    #: Nothing queues here: every stream runs at once.
    queue_depth = 0

    def __init__(
        self,
        *,
        default_reply: str | None = None,
        default_summary: str | None = None,
        count_tokens: Callable[[str], int] = estimate_tokens,
        name: str = "fake",
        models: Sequence[ModelInfo] = (ModelInfo("fake-model"),),
    ) -> None:
        #: A backend name: several fakes stand for several backends (LLM_BACKENDS) in routing tests.
        self.name = name
        self.listed = list(models)
        self.model = self.listed[0].name if self.listed else "fake-model"
        # One script queue per purpose (GenerationOptions.purpose): background summaries never take a reply's script.
        self._queues: dict[str, deque[_Script]] = {"reply": deque(), "summary": deque()}
        self._defaults = {"reply": default_reply, "summary": default_summary}
        self._count = count_tokens
        self.history: list[Prompt] = []
        self.health_error: BaseException | None = None
        self.closed = False

    def enqueue(
        self,
        reply: str | list[str] = "",
        *,
        delay: float = 0.0,
        error: BaseException | None = None,
        wait_for: asyncio.Event | None = None,
        purpose: str = "reply",
    ) -> None:
        """Queue one reply (or, with `purpose="summary"`, one summary): a string (one chunk per word) or chunks.

        `delay` sleeps before each chunk; `error` is raised after the chunks; `wait_for`
        holds the stream open until the event is set.
        """
        chunks = _words(reply) if isinstance(reply, str) else list(reply)
        self._queues[purpose].append(_Script(chunks, delay, error, wait_for))

    @property
    def pending(self) -> int:
        """Scripted replies not yet used (summaries not counted)."""
        return len(self._queues["reply"])

    def calls(self, purpose: str) -> list[Prompt]:
        """The recorded prompts of one purpose, in call order."""
        return [prompt for prompt in self.history if prompt.options.purpose == purpose]

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    async def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncIterator[str]:
        self.history.append(Prompt(list(messages), options))
        script = self._next_script(options.purpose)
        if script.wait_for is not None:
            await script.wait_for.wait()
        for chunk in script.chunks:
            if script.delay:
                await asyncio.sleep(script.delay)
            yield chunk
        if script.error is not None:
            raise script.error

    def _next_script(self, purpose: str) -> _Script:
        queue = self._queues[purpose]
        if queue:
            return queue.popleft()
        default = self._defaults[purpose]
        if default is not None:
            return _Script(_words(default))
        raise AssertionError(f"FakeLLM was asked for a {purpose} but none was enqueued")

    async def learn_counts(self) -> bool:
        """Nothing to learn."""
        return False

    async def health(self) -> None:
        if self.health_error is not None:
            raise self.health_error

    async def list_models(self) -> list[ModelInfo]:
        if self.health_error is not None:
            raise self.health_error
        return list(self.listed)

    async def aclose(self) -> None:
        self.closed = True


def _words(text: str) -> list[str]:
    """Split text into word-sized chunks that join back to exactly `text`."""
    chunks: list[str] = []
    start = 0
    for i in range(1, len(text)):
        if text[i] == " " and text[i - 1] != " ":
            chunks.append(text[start:i])
            start = i
    if text:
        chunks.append(text[start:])
    return chunks
