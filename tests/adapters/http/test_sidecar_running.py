"""`sidecar_running`: serves on SIDECAR_HOST:SIDECAR_PORT, logs its URL, refuses bad binds, shuts down cleanly."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nono.bot.settings import Settings
from nono.adapters.http.app import sidecar_running
from nono.core.errors import ConfigError
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import AUTH, make_services, make_settings


def running_settings(tmp_path: Path, **values: Any) -> Settings:
    return make_settings(tmp_path, sidecar_host="127.0.0.1", sidecar_port=0, **values)


async def test_serves_and_logs_its_url(
    tmp_path: Path, sidecar_personas: Path, sqlite_store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    services = make_services(running_settings(tmp_path), sqlite_store, FakeLLM())
    with caplog.at_level(logging.INFO, logger="nono.adapters.http.app"):
        async with sidecar_running(services) as url, aiohttp.ClientSession() as http:
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
    services = make_services(running_settings(tmp_path), sqlite_store, FakeLLM())
    async with aiohttp.ClientSession() as http:
        async with sidecar_running(services) as url:
            ws = await http.ws_connect(f"{url}/ws/chat/rest:bye", headers=AUTH)
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
            async with sidecar_running(make_services(settings, sqlite_store, FakeLLM())):
                pytest.fail("the sidecar started on a port that is in use")


async def test_no_token_on_a_public_bind_never_listens(
    tmp_path: Path, sidecar_personas: Path, sqlite_store: Any
) -> None:
    settings = make_settings(tmp_path, admin_token=None, sidecar_host="0.0.0.0", sidecar_port=0)
    with pytest.raises(ConfigError, match="ADMIN_TOKEN"):
        async with sidecar_running(make_services(settings, sqlite_store, FakeLLM())):
            pytest.fail("the sidecar started without a token on 0.0.0.0")
