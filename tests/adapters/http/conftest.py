"""Sidecar fixtures: the real app factory over a real store (SQLite or Redis) and the scripted FakeLLM."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from nono.bot.settings import Settings
from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import make_app, make_chat, make_settings


@pytest.fixture
def sidecar_personas(tmp_path: Path, personas_dir: Path) -> Path:
    """A private copy of the project's personas, so reload tests may break it."""
    target = tmp_path / "personas"
    shutil.copytree(personas_dir, target)
    return target


@pytest.fixture(params=["sqlite_store", "redis_store"])
def any_store(request: pytest.FixtureRequest) -> Any:
    """SQLite and the real Redis on 6379 (random key prefix)."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def settings_values() -> dict[str, Any]:
    """Override in a test module (or with indirect parametrization) to change Settings."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, sidecar_personas: Path, settings_values: dict[str, Any]) -> Settings:
    return make_settings(tmp_path, **settings_values)


@pytest.fixture
def sidecar_chat(settings: Settings, sqlite_store: Any, fake_llm: FakeLLM) -> ChatService:
    return make_chat(settings, sqlite_store, fake_llm)


@pytest.fixture
def app(settings: Settings, sidecar_chat: ChatService) -> web.Application:
    return make_app(settings, sidecar_chat)


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], app: web.Application) -> TestClient:
    return await aiohttp_client(app)


@pytest.fixture
def api_chat(settings: Settings, any_store: Any, fake_llm: FakeLLM) -> ChatService:
    """ChatService over SQLite and the real Redis (the test runs once with each)."""
    return make_chat(settings, any_store, fake_llm)


@pytest.fixture
async def api(aiohttp_client: Callable[..., Any], settings: Settings, api_chat: ChatService) -> TestClient:
    """A client of the real app over `api_chat`."""
    return await aiohttp_client(make_app(settings, api_chat))


@pytest.fixture
def client_with(
    aiohttp_client: Callable[..., Any], tmp_path: Path, sidecar_personas: Path, sqlite_store: Any, fake_llm: FakeLLM
) -> Callable[..., Any]:
    """`await client_with(parts=…, feed=…, **settings)`: a client of an app wired unlike `client`'s."""

    async def make(*, parts: tuple[Any, ...] = (), feed: Any = None, **values: Any) -> TestClient:
        settings = make_settings(tmp_path, **values)
        chat = make_chat(settings, sqlite_store, fake_llm)
        return await aiohttp_client(make_app(settings, chat, parts=parts, feed=feed))

    return make
