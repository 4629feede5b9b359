"""Shared pieces of the fault and abuse tests: Nono wired from Settings the way `nono run` wires it.

`running_nono(settings)` opens the real services (`open_services`: SQLite under the test's
data dir, the configured LLM backend or a given FakeLLM, limits from the settings) and serves
the real sidecar app in-process, so every test can read `/metrics` and `/ready` next to what a
user saw. Remote servers are the loopback fakes that speak their wire protocols (Ollama's
NDJSON API, Telegram's Bot API). Import the fixtures you use into the test module.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from nono.adapters import http, telegram
from nono.adapters.parts import Part
from nono.bot.options import http_options, telegram_options
from nono.bot.services import Services, open_services
from nono.bot.settings import Settings
from nono.core.llm.base import LLM
from tests.adapters.http.helpers import AUTH, TOKEN, metric_value
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama
from tests.support.settings import make_settings
from tests.support.telegram import ALICE, BOB, GROUP, telegram_values

__all__ = ["ALICE", "BOB", "GROUP", "telegram_values"]  # the Telegram names these tests use, from their home


def nono_settings(tmp_path: Path, **values: Any) -> Settings:
    """Settings isolated from the environment: SQLite in the test's directory, the shipped personas."""
    values.setdefault("admin_token", TOKEN)
    return make_settings(tmp_path, **values)


def ollama_settings(tmp_path: Path, host: str, **values: Any) -> Settings:
    """LLM_BACKEND=ollama pointed at `host`, with the fake's model."""
    return nono_settings(tmp_path, llm_backend="ollama", ollama_host=host, model_name=DEFAULT_MODEL, **values)


class MetricsDelta:
    """How much each series moved between two scrapes."""

    def __init__(self, before: str, after: str) -> None:
        self.before, self.after = before, after

    def __call__(self, name: str, **labels: str) -> float:
        return metric_value(self.after, name, **labels) - metric_value(self.before, name, **labels)


@dataclass
class Nono:
    """The running services and an HTTP client of their sidecar."""

    services: Services
    client: TestClient

    async def chat(self, user_id: str, message: str, **extra: Any) -> tuple[int, dict[str, Any], Any]:
        """POST /chat; returns status, JSON body and headers."""
        response = await self.client.post("/chat", headers=AUTH, json={"user_id": user_id, "message": message, **extra})
        return response.status, await response.json(content_type=None), response.headers

    async def scrape(self) -> str:
        response = await self.client.get("/metrics", headers=AUTH)
        assert response.status == 200
        return await response.text()

    async def ready(self) -> tuple[int, dict[str, str]]:
        response = await self.client.get("/ready")
        return response.status, (await response.json())["checks"]

    async def stored(self, user_id: str) -> list[tuple[str, str]]:
        """The user's whole stored history as (role, content), once every reply shown is stored."""
        await self.services.chat.deliveries.idle()  # a turn is stored just after the platform accepts it
        return [(m.role, m.content) for m in await self.services.chat.history(user_id, 1000)]


@asynccontextmanager
async def running_nono(
    settings: Settings, *, llm: LLM | None = None, with_telegram: bool = False
) -> AsyncIterator[Nono]:
    """Open the services from `settings` and serve their sidecar until the block exits.

    `with_telegram` also runs the Telegram adapter, handed to the sidecar as the runner hands it.
    """
    async with open_services(settings, llm=llm) as services, AsyncExitStack() as stack:
        parts: list[Part] = []
        feed = None
        if with_telegram:
            part = await stack.enter_async_context(telegram.running(services.chat, telegram_options(settings)))
            parts, feed = [part], part.feed
        app = http.create_sidecar_app(services.chat, http_options(settings), parts=parts, telegram_feed=feed)
        client = await stack.enter_async_context(TestClient(TestServer(app)))
        yield Nono(services, client)


class ClosedPort:
    """A loopback port bound but not listening: connections are refused, and nobody else takes it."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]

    def release(self) -> None:
        """Free the port, so a server can start listening on it."""
        self._sock.close()


@pytest.fixture
def closed_port() -> Iterator[ClosedPort]:
    port = ClosedPort()
    yield port
    port.release()


@asynccontextmanager
async def ollama_on_port(closed: ClosedPort) -> AsyncIterator[FakeOllama]:
    """A FakeOllama listening on a port that refused connections until now (a model server coming back)."""
    closed.release()
    port = closed.port
    server = FakeOllama()
    runner = web.AppRunner(server.app(), handler_cancellation=True, shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        server.url = f"http://127.0.0.1:{port}"
        yield server
    finally:
        server.close()
        await runner.cleanup()
    assert not server.problems, server.problems


@asynccontextmanager
async def nono_with_telegram(settings: Settings, *, llm: LLM | None = None) -> AsyncIterator[Nono]:
    """`running_nono` plus the Telegram adapter (long polling the loopback Bot API) on the same services."""
    async with running_nono(settings, llm=llm, with_telegram=True) as nono:
        yield nono
