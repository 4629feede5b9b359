"""The LLM seam: one async generator of text chunks, capabilities as attributes.

Backends raise `ModelUnavailable` (a user-facing error) for every failure the user should
hear about: unreachable server, unknown model, a stream that breaks or stalls. The core
stores nothing for a turn whose stream raised.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ChatMessage:
    """One message of a prompt, as sent to a model."""

    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling settings for one reply; None means the backend's default."""

    temperature: float = 0.7
    max_tokens: int = 512
    top_p: float | None = None
    model: str | None = None
    num_ctx: int = 2048
    seed: int | None = None
    #: What the generation is for: "reply" (a user waits for it) or "summary" (background memory work).
    purpose: str = "reply"


@dataclass(frozen=True)
class ModelInfo:
    """One model a backend can answer with (`/models`, REST `GET /models`)."""

    name: str
    #: Bytes on disk, when the server says.
    size: int | None = None
    #: Context window in tokens, when the server says.
    context: int | None = None


# Chat templates wrap each message in a few marker tokens (ChatML: "<|im_start|>role\n" … "<|im_end|>\n").
MESSAGE_OVERHEAD_TOKENS = 8


def estimate_tokens(text: str) -> int:
    """A conservative token count for backends without a tokenizer.

    Byte-level BPE tokenizers average about four UTF-8 bytes per token on English and code,
    and rarely fewer than three even on CJK text (one token per ~3-byte character), so
    bytes / 3 over-counts a little: the budget stays on the safe side of the real context.
    """
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 3)


@runtime_checkable
class LLM(Protocol):
    """A chat model that streams text."""

    #: Short backend name for logs, metrics, LLM_BACKENDS and a persona's `backend:` ("local", "ollama", "openai").
    name: str

    #: The model this backend answers with when a persona names none (MODEL_PATH's file name for "local").
    @property
    def model(self) -> str: ...

    #: Replies generating or waiting for the model now (LLM_MAX_QUEUE bounds it; metrics report it).
    @property
    def queue_depth(self) -> int: ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` costs inside a message (exact or a conservative estimate)."""

    async def learn_counts(self) -> bool:
        """Count exactly what `count_tokens` could only estimate (a server's tokenizer); True if anything was learned.

        Never raises: a tokenizer that fails leaves the estimates in place.
        """

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncIterator[str]:
        """Yield the reply as text chunks; raise ModelUnavailable on failure."""

    async def health(self) -> None:
        """Raise ModelUnavailable unless the model can answer."""

    async def list_models(self) -> list[ModelInfo]:
        """The models this backend's server has; raise ModelUnavailable when it cannot say."""

    async def aclose(self) -> None:
        """Release the model or client."""


async def close_stream(stream: AsyncIterator[str]) -> None:
    """Close a model's stream now (an HTTP stream, a worker thread), not at garbage collection."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
