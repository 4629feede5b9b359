"""After a turn, the labelled series move by exactly the expected amounts; registries never mix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from nono.adapters.http.requests import CHAT
from nono.bot.settings import Settings
from nono.core.errors import ModelUnavailable
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import AUTH, make_app, make_chat, metric_value, scrape


async def chat(client: TestClient, user_id: str, message: str = "hi") -> int:
    response = await client.post("/chat", headers=AUTH, json={"user_id": user_id, "message": message})
    return response.status


async def test_an_ok_turn_moves_its_series(client: TestClient, fake_llm: FakeLLM) -> None:
    before = await scrape(client)
    fake_llm.enqueue(["Hello", " there", "!"])
    assert await chat(client, "rest:m1") == 200
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert delta("nono_turns_total", platform="rest", outcome="ok") == 1
    assert delta("nono_turns_total", platform="rest", outcome="error") == 0
    assert delta("nono_reply_chunks_total", platform="rest") == 3
    assert delta("nono_reply_chars_total", platform="rest") == len("Hello there!")
    assert delta("nono_reply_latency_seconds_count", platform="rest", outcome="ok") == 1
    assert delta("nono_time_to_first_token_seconds_count", platform="rest", outcome="ok") == 1
    assert delta("nono_turns_total", platform="discord", outcome="ok") == 0
    assert metric_value(after, "nono_active_sessions") == 1


async def test_a_failed_turn_counts_as_an_error_by_kind(client: TestClient, fake_llm: FakeLLM) -> None:
    # A Telegram turn, run by the core as the Telegram adapter runs it: the sidecar counts every adapter's turns.
    fake_llm.enqueue(["par", "tial"], error=ModelUnavailable())
    with pytest.raises(ModelUnavailable):
        await client.app[CHAT].reply("telegram:42", "hi")
    text = await scrape(client)
    assert metric_value(text, "nono_turns_total", platform="telegram", outcome="error") == 1
    assert metric_value(text, "nono_errors_total", kind="model_unavailable") == 1
    assert metric_value(text, "nono_turns_total", platform="telegram", outcome="ok") == 0


async def test_input_the_sidecar_rejects_starts_no_turn(client: TestClient) -> None:
    assert await chat(client, "rest:m2", message=" ") == 422
    assert metric_value(await scrape(client), "nono_turns_total", platform="rest", outcome="error") == 0


async def test_unknown_platforms_share_one_label(client: TestClient, fake_llm: FakeLLM) -> None:
    for user in ("zz1:a", "zz2:b"):  # stored ids may name any platform; REST callers are always rest:
        fake_llm.enqueue("ok")
        await client.app[CHAT].reply(user, "hi")
    text = await scrape(client)
    assert metric_value(text, "nono_turns_total", platform="other", outcome="ok") == 2
    assert "zz1" not in text


async def test_active_sessions_and_queue_depth_are_read_at_scrape(client: TestClient, fake_llm: FakeLLM) -> None:
    for user in ("rest:a", "rest:b"):
        fake_llm.enqueue("ok")
        await chat(client, user)
    fake_llm.queue_depth = 3  # what LocalLLM/OllamaLLM expose
    text = await scrape(client)
    assert metric_value(text, "nono_active_sessions") == 2
    assert metric_value(text, "nono_llm_queue_depth") == 3


async def test_an_internal_error_is_counted(client_with: Callable[..., Any]) -> None:
    async def broken(update: dict) -> None:
        raise RuntimeError("boom")

    client = await client_with(feed=broken, telegram_webhook_secret="s")
    secret = {"X-Telegram-Bot-Api-Secret-Token": "s"}
    response = await client.post("/telegram/webhook", json={"update_id": 1}, headers=secret)
    assert response.status == 500
    text = await scrape(client)
    assert metric_value(text, "nono_errors_total", kind="internal") == 1
    assert metric_value(text, "nono_http_requests_total", status="500") == 1


async def test_requests_are_counted_by_the_status_they_were_answered_with(client: TestClient) -> None:
    await client.get("/health")
    await client.get("/health")
    await client.get("/personas")  # no token
    await client.get("/no/such/route", headers=AUTH)
    await client.post("/chat", headers=AUTH, data="{")  # not declared JSON
    text = await scrape(client)  # counted once answered: this scrape is not in its own numbers
    counted = {status: metric_value(text, "nono_http_requests_total", status=status) for status in
               ("200", "401", "404", "415", "500", "client_closed")}  # fmt: skip
    assert counted == {"200": 2, "401": 1, "404": 1, "415": 1, "500": 0, "client_closed": 0}


@pytest.mark.parametrize("settings_values", [{"metrics_public": True}])
async def test_two_apps_in_one_process_keep_separate_registries(
    aiohttp_client: Callable[..., Any], settings: Settings, sqlite_store: Any, settings_values: dict
) -> None:
    first_llm, second_llm = FakeLLM(), FakeLLM()
    first = await aiohttp_client(make_app(settings, make_chat(settings, sqlite_store, first_llm)))
    second = await aiohttp_client(make_app(settings, make_chat(settings, sqlite_store, second_llm)))
    first_llm.enqueue("one")
    assert await chat(first, "rest:solo") == 200
    assert metric_value(await scrape(first), "nono_turns_total", platform="rest", outcome="ok") == 1
    assert metric_value(await scrape(second), "nono_turns_total", platform="rest", outcome="ok") == 0
