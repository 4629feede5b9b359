"""HTTP `running`: serves on SIDECAR_HOST:SIDECAR_PORT, logs its URL, refuses bad binds, shuts down cleanly."""

from __future__ import annotations

import logging
import socket
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nono.adapters.http import HttpPart, running
from nono.bot.options import http_options
from nono.bot.settings import Settings
from nono.core.errors import ConfigError
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import AUTH, make_chat, make_settings


def running_settings(tmp_path: Path, **values: Any) -> Settings:
    return make_settings(tmp_path, sidecar_host="127.0.0.1", sidecar_port=0, **values)


def serve(settings: Settings, store: Any) -> AbstractAsyncContextManager[HttpPart]:
    return running(make_chat(settings, store, FakeLLM()), http_options(settings))


async def test_serves_and_logs_its_url(
    tmp_path: Path, sidecar_personas: Path, sqlite_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = running_settings(tmp_path)
    with caplog.at_level(logging.INFO, logger="nono.adapters.http.app"):
        async with serve(settings, sqlite_store) as part, aiohttp.ClientSession() as http:
            url = part.url
            assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
            async with http.get(f"{url}/health") as response:
                assert response.status == 200
    [listening] = [r for r in caplog.records if r.message == "sidecar_listening"]
    assert listening.url == url  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"{url}/health")


async def test_open_websockets_are_told_the_server_is_going_away(
    tmp_path: Path, sidecar_personas: Path, sqlite_store: Any
) -> None:
    async with aiohttp.ClientSession() as http:
        async with serve(running_settings(tmp_path), sqlite_store) as part:
            ws = await http.ws_connect(f"{part.url}/ws/chat/rest:bye", headers=AUTH)
        message = await ws.receive()
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert message.data == aiohttp.WSCloseCode.GOING_AWAY
        await ws.close()


async def test_a_port_in_use_is_a_config_error(tmp_path: Path, sidecar_personas: Path, sqlite_store: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = make_settings(tmp_path, sidecar_host="127.0.0.1", sidecar_port=port)
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}"):
            async with serve(settings, sqlite_store):
                pytest.fail("the sidecar started on a port that is in use")


async def test_no_token_on_a_public_bind_never_listens(
    tmp_path: Path, sidecar_personas: Path, sqlite_store: Any
) -> None:
    settings = make_settings(tmp_path, admin_token=None, sidecar_host="0.0.0.0", sidecar_port=0)
    with pytest.raises(ConfigError, match="ADMIN_TOKEN"):
        async with serve(settings, sqlite_store):
            pytest.fail("the sidecar started without a token on 0.0.0.0")
