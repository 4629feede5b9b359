"""What the OpenAI backend's tests share: the prompt, secrets, a backend maker and log readers."""

from __future__ import annotations

import json
import logging

import pytest

from nono.core.llm.base import ChatMessage, GenerationOptions
from nono.core.llm.openai_llm import OpenAILLM
from tests.fakes.openai_server import DEFAULT_MODEL

PROMPT = [ChatMessage("system", "You are terse."), ChatMessage("user", "Say hello")]
KEY = "sk-proj-Zq8sEcReT0nly4TeStS9x"
HEADER_SECRET = "or-attribution-s3cr3t-value"


def make(url: str, *, api_key: str | None = None, model: str = DEFAULT_MODEL, **options) -> OpenAILLM:
    return OpenAILLM(base_url=url, api_key=api_key, model=model, headers=options.pop("headers", {}), **options)


async def collect(llm: OpenAILLM, options: GenerationOptions | None = None, into: list[str] | None = None):
    chunks = [] if into is None else into
    async for chunk in llm.stream(PROMPT, options or GenerationOptions()):
        chunks.append(chunk)
    return chunks


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the log holds: messages, every extra field, tracebacks."""
    return "\n".join(
        json.dumps(record.__dict__, default=str) + (caplog.handler.format(record) if record.exc_info else "")
        for record in caplog.records
    )


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == name]
