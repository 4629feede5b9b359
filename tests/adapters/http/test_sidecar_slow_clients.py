"""Clients that hang up or dawdle mid-request: counted as what they are, answered or dropped, never an internal error.

Served by `running`, the way `nono` serves (aiohttp's test server cancels a handler whose client
leaves; the real server lets it finish, so that is what these tests drive).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from nono.adapters.http import HttpPart, running
from nono.bot.options import http_options
from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import AUTH, TOKEN, make_chat, make_settings, metric_value, raw_connection, status_line

#: The headers of an upload as curl sends them for a large body: it waits for "100 Continue" first.
HEAD = (
    f"POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
    "Content-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n"
)
#: The first part of a body announced as 1000 bytes.
PART = b'{"user_id": "rest:gone", "message": "This upload never fin'


class Sidecar:
    """A served sidecar, its chat service, and raw connections to it."""

    def __init__(self, part: HttpPart, chat: ChatService) -> None:
        self.url, self.chat = part.url, chat
        self.host, self.port = URL(part.url).host or "", URL(part.url).port or 0

    async def connect(self, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await raw_connection(self.host, self.port, data)

    async def start_upload(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """An upload that has sent part of its body to a handler that is reading it."""
        reader, writer = await self.connect(HEAD.encode())
        assert await status_line(reader) == 100  # the request has reached its handler
        assert await reader.readline() == b"\r\n"
        writer.write(PART)
        await writer.drain()
        return reader, writer

    async def metrics(self) -> str:
        async with aiohttp.ClientSession(headers=AUTH) as http, http.get(f"{self.url}/metrics") as response:
            assert response.status == 200
            return await response.text()

    async def metric_reaches(self, count: float, name: str, **labels: str) -> str:
        """Scrape until the series reaches `count` (it moves when the abandoned handler has finished)."""
        async with asyncio.timeout(10):
            while metric_value(text := await self.metrics(), name, **labels) < count:
                await asyncio.sleep(0.01)
        return text


@pytest.fixture
def serve(tmp_path: Path, sidecar_personas: Path, sqlite_store: Any, fake_llm: FakeLLM):
    @asynccontextmanager
    async def serve(**values: Any) -> AsyncIterator[Sidecar]:
        settings = make_settings(tmp_path, sidecar_host="127.0.0.1", sidecar_port=0, **values)
        chat = make_chat(settings, sqlite_store, fake_llm)
        async with running(chat, http_options(settings)) as part:
            yield Sidecar(part, chat)

    return serve


async def test_clients_that_hang_up_mid_body_are_counted_not_logged_as_errors(
    serve: Any, fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve() as sidecar:
        for _ in range(5):
            _, writer = await sidecar.start_upload()
            writer.close()  # gives up: the rest of the body never comes
            await writer.wait_closed()
        text = await sidecar.metric_reaches(5, "nono_http_requests_total", status="client_closed")
        assert await sidecar.chat.session("rest:gone") is None
    assert metric_value(text, "nono_errors_total", kind="internal") == 0
    assert metric_value(text, "nono_http_requests_total", status="500") == 0
    logged = [r for r in caplog.records if r.name.startswith("nono.adapters.http") and "sidecar_" in r.getMessage()]
    assert {(r.levelname, r.getMessage()) for r in logged} - {("INFO", "sidecar_listening")} == {
        ("DEBUG", "sidecar_client_closed")
    }
    assert not any(r.exc_info for r in caplog.records), "no traceback"
    assert fake_llm.history == []


async def test_a_body_slower_than_the_read_timeout_is_answered_408_and_the_connection_closed(
    serve: Any, fake_llm: FakeLLM
) -> None:
    async with serve(sidecar_read_timeout=0.3) as sidecar:
        reader, writer = await sidecar.start_upload()
        try:
            assert await status_line(reader) == 408
            headers = {}
            while (line := (await reader.readline()).decode().strip()) != "":
                name, _, value = line.partition(":")
                headers[name.lower()] = value.strip()
            body = json.loads(await reader.readexactly(int(headers["content-length"])))
        finally:
            writer.close()
        assert headers["connection"] == "close"
        assert headers["content-type"].startswith("application/problem+json")
        assert body["code"] == "request_timeout" and "0.3 seconds" in body["detail"]
        assert metric_value(await sidecar.metrics(), "nono_http_requests_total", status="408") == 1
        assert await sidecar.chat.session("rest:gone") is None
    assert fake_llm.history == []


async def test_slow_and_idle_connections_are_closed_but_a_slow_answer_is_not_cut(serve: Any, fake_llm: FakeLLM) -> None:
    release = asyncio.Event()
    fake_llm.enqueue("Slow but sure.", wait_for=release)
    async with serve(sidecar_read_timeout=0.5) as sidecar, aiohttp.ClientSession(headers=AUTH) as http:
        answer = asyncio.create_task(http.post(f"{sidecar.url}/chat", json={"user_id": "patient", "message": "hm?"}))
        half, half_writer = await sidecar.connect(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line
        idle, idle_writer = await sidecar.connect(b"")
        # Bounded: the server closes both after the read timeout (it used to wait an hour).
        assert await asyncio.wait_for(half.read(), 10) == b""
        assert await asyncio.wait_for(idle.read(), 10) == b""
        release.set()  # the answer has taken longer than the read timeout: it is not a slow client
        response = await answer
        assert response.status == 200 and (await response.json())["reply"] == "Slow but sure."
        for writer in (half_writer, idle_writer):
            writer.close()
