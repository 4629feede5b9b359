"""Readiness follows the real dependencies: a private redis-server stopped and started again, the model, adapters."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from nono.bot.settings import Settings
from nono.core.errors import ModelUnavailable
from nono.core.llm.fake import FakeLLM
from nono.core.store.redis_store import RedisStore
from tests.adapters.http.helpers import AUTH, StubPart, make_app, make_chat, metric_value, scrape
from tests.support.redis_server import RedisServer


async def ready(client: TestClient) -> tuple[int, dict]:
    response = await client.get("/ready")
    return response.status, await response.json()


async def test_ready_turns_503_while_redis_is_down_and_200_when_it_is_back(
    aiohttp_client: Callable[..., Any], tmp_path: Path, settings: Settings, fake_llm: FakeLLM
) -> None:
    server = RedisServer(tmp_path).start()
    store = RedisStore.from_url(server.url, prefix=f"nono-test:{uuid.uuid4().hex}:")
    try:
        client = await aiohttp_client(make_app(settings, make_chat(settings, store, fake_llm)))
        assert await ready(client) == (
            200,
            {"status": "ok", "checks": {"store": "ok", "llm": "ok"}, "backends": {"fake": "ok"}},
        )

        server.stop()
        assert await ready(client) == (
            503,
            {"status": "failing", "checks": {"store": "failing", "llm": "ok"}, "backends": {"fake": "ok"}},
        )
        turn = await client.post("/chat", headers=AUTH, json={"user_id": "rest:x", "message": "hi"})
        assert turn.status == 503
        assert (await turn.json())["code"] == "store_unavailable"
        assert metric_value(await scrape(client), "nono_store_up") == 0

        server.start()
        assert await ready(client) == (
            200,
            {"status": "ok", "checks": {"store": "ok", "llm": "ok"}, "backends": {"fake": "ok"}},
        )
        assert metric_value(await scrape(client), "nono_store_up") == 1
    finally:
        await store.aclose()
        server.stop()


async def test_ready_names_a_failing_model(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.health_error = ModelUnavailable()
    assert await ready(client) == (
        503,
        {"status": "failing", "checks": {"store": "ok", "llm": "failing"}, "backends": {"fake": "failing"}},
    )
    fake_llm.health_error = None
    assert (await ready(client))[0] == 200


async def test_ready_names_failing_adapters(client_with: Callable[..., Any]) -> None:
    discord, telegram = StubPart("discord", lambda: True), StubPart("telegram", lambda: False)
    client = await client_with(parts=(discord, telegram))
    status, body = await ready(client)
    assert status == 503
    assert body["checks"] == {"store": "ok", "llm": "ok", "discord": "ok", "telegram": "failing"}

    def crashing() -> bool:
        raise RuntimeError("adapter state is broken")

    telegram.state = crashing
    assert (await ready(client))[1]["checks"]["telegram"] == "failing"
    telegram.state = lambda: True
    assert (await ready(client))[0] == 200


async def test_ready_reveals_no_details(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.health_error = ModelUnavailable("ollama at http://10.0.0.3:11434 refused: secret detail")
    text = await (await client.get("/ready")).text()
    assert "10.0.0.3" not in text and "secret" not in text
