"""The sidecar's access log, as served by `running` on a real port: one JSON line per request at INFO with
method, path, status and duration, never the query string (a token pasted into a URL stays out of the log)."""

from __future__ import annotations

import aiohttp
import pytest

from nono.adapters import http
from nono.bot.options import http_options
from nono.bot.settings import Settings
from nono.core.chat import ChatService
from tests.adapters.http.helpers import AUTH
from tests.support.json_log import json_log

LEAK = "token-in-a-query-string"


@pytest.fixture
def settings_values() -> dict[str, int]:
    return {"sidecar_port": 0}


async def test_each_request_is_one_line_without_its_query_string(settings: Settings, sidecar_chat: ChatService) -> None:
    with json_log("INFO") as log:
        async with http.running(sidecar_chat, http_options(settings)) as sidecar, aiohttp.ClientSession() as client:
            async with client.get(f"{sidecar.url}/health?access_token={LEAK}") as response:
                assert response.status == 200
            async with client.get(f"{sidecar.url}/personas", headers=AUTH) as response:
                assert response.status == 200
            async with client.get(f"{sidecar.url}/personas") as response:
                assert response.status == 401
            # A request is logged just after its answer is sent; on one connection, before the next is read.
            async with client.get(f"{sidecar.url}/health") as response:
                assert response.status == 200
    lines = log.events("http_request")[:3]
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/health", 200),
        ("GET", "/personas", 200),
        ("GET", "/personas", 401),
    ]
    assert all(line["logger"] == "nono.access" and line["duration_ms"] >= 0 for line in lines)
    assert LEAK not in log.text


async def test_above_info_there_is_no_access_log(settings: Settings, sidecar_chat: ChatService) -> None:
    with json_log("WARNING") as log:
        async with (
            http.running(sidecar_chat, http_options(settings)) as sidecar,
            aiohttp.ClientSession() as client,
            client.get(f"{sidecar.url}/health") as response,
        ):
            assert response.status == 200
    assert not log.events("http_request")
