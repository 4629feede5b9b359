"""The OpenAI backend's fixtures: a loopback OpenAI server and a backend on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nono.core.llm.openai_llm import OpenAILLM
from tests.core.llm.openai.helpers import make
from tests.fakes.openai_server import DEFAULT_MODEL, FakeOpenAI, running_openai


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    async with running_openai(models=[DEFAULT_MODEL, "gpt-4.1-nano"]) as (_, fake):
        yield fake


@pytest.fixture
async def llm(server: FakeOpenAI) -> AsyncIterator[OpenAILLM]:
    backend = make(f"{server.url}/v1", timeout=5)
    yield backend
    await backend.aclose()
