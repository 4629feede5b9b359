"""The OpenAI backend's fixtures: a loopback OpenAI server, a backend on it, a refused port."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

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


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused, and nobody else can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()
