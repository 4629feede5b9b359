"""Helpers for the sidecar tests: Settings with the admin token, the app over a given store, reading metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from nono.adapters.http import create_sidecar_app
from nono.adapters.parts import Feed
from nono.bot.options import http_options
from nono.bot.services import chat_limits
from nono.bot.settings import Settings
from nono.core.chat import ChatService
from nono.core.personas import PersonaRegistry
from tests.support import settings as support

TOKEN = "test-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_settings(tmp_path: Path, **values: Any) -> Settings:
    """The sidecar tests' Settings: ADMIN_TOKEN set, and a private copy of the personas under `tmp_path`."""
    values.setdefault("admin_token", TOKEN)
    values.setdefault("personas_dir", tmp_path / "personas")
    return support.make_settings(tmp_path, **values)


def make_chat(settings: Settings, store: Any, llm: Any) -> ChatService:
    """ChatService over `store` and `llm`, with the personas and limits of `settings`."""
    registry = PersonaRegistry.from_directory(settings.personas_dir, settings.default_persona)
    return ChatService(store, llm, registry, chat_limits(settings))


def make_app(
    settings: Settings, chat: ChatService, *, parts: tuple[Any, ...] = (), feed: Feed | None = None
) -> web.Application:
    """The real app factory, with its options built from `settings` the way `nono run` builds them."""
    return create_sidecar_app(chat, http_options(settings), parts=parts, telegram_feed=feed)


@dataclass
class StubPart:
    """An adapter as /ready sees it; `state` decides what `healthy()` answers, and may change mid-test."""

    name: str
    state: Callable[[], bool]

    def healthy(self) -> bool:
        return self.state()


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when the labelled series does not exist yet)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


async def call(client: TestClient, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
    """An admin call with the token; the JSON body, after checking the status."""
    response = await client.request(method, path, headers=AUTH, **kwargs)
    body = await response.json(content_type=None)
    assert response.status == status, body
    return body


async def scrape(client: TestClient) -> str:
    response = await client.get("/metrics", headers=AUTH)
    assert response.status == 200
    return await response.text()


async def raw_connection(host: str, port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A plain TCP connection that has sent `data`: for what aiohttp's client never sends (no Host, half a body)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def status_line(reader: asyncio.StreamReader, timeout: float = 10) -> int:
    """The status code of the response on a raw connection."""
    line = await asyncio.wait_for(reader.readline(), timeout)
    assert line.startswith(b"HTTP/1."), line
    return int(line.split()[1])
