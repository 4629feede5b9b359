"""The Ollama backend: the official `ollama` AsyncClient streaming `/api/chat`.

Every failure is translated once, here, into ModelUnavailable (or Busy) with a message a
user can act on; the details an operator needs (host, model, status, error) go to the log.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import ollama

from nono.core.errors import Busy, ConfigError, ModelUnavailable
from nono.core.llm.base import ChatMessage, GenerationOptions, ModelInfo, estimate_tokens
from nono.core.llm.stream_queue import StreamQueue
from nono.core.wording import MODEL_SERVER_BUSY, MODEL_SERVER_UNREACHABLE, MODEL_STREAM_BROKEN, TOO_SLOW

log = logging.getLogger(__name__)

UNREACHABLE = MODEL_SERVER_UNREACHABLE
BROKEN = MODEL_STREAM_BROKEN
SERVER_BUSY = MODEL_SERVER_BUSY

# Go's time.ParseDuration grammar: Ollama rejects any other keep_alive string with a 400.
_DURATION = re.compile(r"[-+]?(0|((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)")


def missing_model_message(model: str) -> str:
    """What a user is told when the model is not installed on the Ollama server."""
    return f"The model {model!r} is not installed on the model server. The operator needs to run `ollama pull {model}`."


class OllamaLLM:
    """Streams chat replies from an Ollama server."""

    name = "ollama"

    def __init__(
        self,
        host: str,
        model: str,
        timeout: float = 60,
        keep_alive: str | float | None = "5m",
        max_queue: int = 32,
        client: ollama.AsyncClient | None = None,
    ) -> None:
        if timeout <= 0 or max_queue < 1:
            raise ConfigError(f"OllamaLLM needs timeout > 0 and max_queue >= 1 (got {timeout}, {max_queue})")
        self.host = host
        self.model = model
        self.timeout = timeout
        self.keep_alive = parse_keep_alive(keep_alive)
        self.max_queue = max_queue
        self._queue = StreamQueue(self.name, max_queue)
        self._owns_client = client is None
        self._client = client if client is not None else ollama.AsyncClient(host=host)

    def count_tokens(self, text: str) -> int:
        """A conservative estimate: Ollama does not expose the model's tokenizer cheaply."""
        return estimate_tokens(text)

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncIterator[str]:
        """Yield the reply as text chunks; raise ModelUnavailable (or Busy) on any failure."""
        return self._queue.run(self._chat(messages, options))

    @property
    def queue_depth(self) -> int:
        """Streams in progress (for metrics); more than LLM_MAX_QUEUE at once are refused with Busy."""
        return self._queue.depth

    async def _chat(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncGenerator[str]:
        model = options.model or self.model
        with self._translated(model):
            parts = await self._client.chat(
                model=model,
                messages=[{"role": m.role, "content": m.content} for m in messages],
                stream=True,
                options=ollama_options(options),
                keep_alive=self.keep_alive,
            )
        try:
            while True:
                part = await self._next(parts, model)
                if part is None:  # Ollama always ends with a done line; a body without one was cut
                    log.warning("llm_stream_truncated", extra={"host": self.host, "model": model})
                    raise ModelUnavailable(BROKEN)
                if part.message.content:
                    yield part.message.content
                if part.done:
                    return
        finally:
            if isinstance(parts, AsyncGenerator):  # what the client returns for stream=True
                await parts.aclose()

    async def _next(self, parts: AsyncIterator[Any], model: str) -> Any:
        """The next NDJSON line, or None at the end; `timeout` bounds the wait for each one."""
        with self._translated(model):
            async with asyncio.timeout(self.timeout):
                return await anext(parts, None)

    async def learn_counts(self) -> bool:
        """Ollama has no tokenizer endpoint: estimates stay."""
        return False

    async def health(self) -> None:
        """Raise ModelUnavailable unless the server answers and has the configured model."""
        with self._translated(self.model):
            async with asyncio.timeout(self.timeout):
                listing = await self._client.list()
        installed = {canonical_model(m.model) for m in listing.models if m.model}
        if canonical_model(self.model) not in installed:
            where = {"host": self.host, "model": self.model, "installed": sorted(installed)}
            log.error("llm_model_missing", extra={**where, "fix": f"ollama pull {self.model}"})
            raise ModelUnavailable(missing_model_message(self.model))

    async def list_models(self) -> list[ModelInfo]:
        """The models the server has (`/api/tags`), with their size on disk."""
        with self._translated(self.model):
            async with asyncio.timeout(self.timeout):
                listing = await self._client.list()
        return [ModelInfo(m.model, m.size) for m in listing.models if m.model]

    async def aclose(self) -> None:
        """Close the HTTP client if this backend created it."""
        if self._owns_client:
            await self._client.close()  # type: ignore[no-untyped-call]  # untyped in ollama

    @contextmanager
    def _translated(self, model: str) -> Iterator[None]:
        """Map the client's exceptions to user-facing errors, logging what the operator needs."""
        where = {"host": self.host, "model": model}
        try:
            yield
        except TimeoutError as exc:
            log.warning("llm_timeout", extra={**where, "timeout": self.timeout})
            raise ModelUnavailable(TOO_SLOW) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError) as exc:
            log.warning("llm_unreachable", extra={**where, "error": str(exc)})
            raise ModelUnavailable(UNREACHABLE, fallback=True) from exc
        except ollama.ResponseError as exc:
            raise self._refused(exc, model) from exc
        except (httpx.HTTPError, ValueError) as exc:
            # A dropped connection, bytes that are not NDJSON, a line that is not a chat part.
            log.warning("llm_stream_broken", extra={**where, "error": repr(exc)})
            raise ModelUnavailable(BROKEN) from exc

    def _refused(self, exc: ollama.ResponseError, model: str) -> ModelUnavailable | Busy:
        where = {"host": self.host, "model": model, "status": exc.status_code, "error": exc.error}
        if exc.status_code == 404 and "model" in str(exc.error).lower():
            log.error("llm_model_missing", extra={**where, "fix": f"ollama pull {model}"})
            return ModelUnavailable(missing_model_message(model))
        if exc.status_code == 503:  # Ollama's own queue is full (OLLAMA_MAX_QUEUE)
            log.warning("llm_server_busy", extra=where)
            return Busy(SERVER_BUSY)
        if exc.status_code == -1:  # an {"error": ...} line inside the stream: the runner failed mid-reply
            log.warning("llm_stream_error", extra=where)
            return ModelUnavailable(BROKEN)
        # 404 without a model (OLLAMA_HOST is not an Ollama API), 400 (we sent something it refuses), 5xx.
        log.error("llm_request_failed", extra=where)
        return ModelUnavailable(UNREACHABLE, fallback=exc.status_code >= 500)


def ollama_options(options: GenerationOptions) -> dict[str, Any]:
    """Ollama's option names for our sampling settings; unset ones are left to the server."""
    result: dict[str, Any] = {
        "temperature": options.temperature,
        "num_predict": options.max_tokens,
        "num_ctx": options.num_ctx,
    }
    if options.top_p is not None:
        result["top_p"] = options.top_p
    if options.seed is not None:
        result["seed"] = options.seed
    return result


def parse_keep_alive(value: str | float | None) -> str | float | None:
    """A duration ("5m", "1h30m") or seconds; "300" from an env var becomes 300.0, which Ollama accepts."""
    if value is None or isinstance(value, (int, float)):
        return value
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    if not _DURATION.fullmatch(text):
        raise ConfigError(f"OLLAMA_KEEP_ALIVE must be a duration like 5m, 1h or 30s, or seconds; got {value!r}")
    return text


def canonical_model(name: str) -> str:
    """Ollama's name matching: case-insensitive, `:latest` when no tag is given."""
    name = name.lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
