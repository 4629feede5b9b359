"""Every endpoint's happy path, over SQLite and the real Redis, through the real app factory.

These drive the session routes (the aliases old clients call); test_sidecar_conversations.py drives
the canonical /conversations routes and holds the two to the same answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

import nono
from nono.adapters.http.models import ActiveOut, HistoryOut
from nono.bot.settings import Settings
from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.models import Message
from tests.adapters.http.helpers import AUTH, StubPart, call, make_app


async def test_health_reports_the_version_without_auth(api: TestClient) -> None:
    response = await api.get("/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "version": nono.__version__}


async def test_ready_lists_every_check_by_name(
    aiohttp_client: Callable[..., Any], settings: Settings, api_chat: ChatService
) -> None:
    api = await aiohttp_client(make_app(settings, api_chat, parts=(StubPart("discord", lambda: True),)))
    response = await api.get("/ready")
    assert response.status == 200
    assert await response.json() == {
        "status": "ok",
        "checks": {"store": "ok", "llm": "ok", "discord": "ok"},
        "backends": {"fake": "ok"},
    }


async def test_chat_runs_a_turn_and_remembers_it(api: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue("Hello there, Alice.")
    body = await call(api, "POST", "/chat", json={"user_id": "rest:alice", "message": "Hi, I'm Alice"})
    assert body == {
        "user_id": "rest:alice", "conversation_id": "rest:alice", "reply": "Hello there, Alice.",
        "persona": "assistant", "incomplete": False,
    }  # fmt: skip
    history = await call(api, "GET", "/session/rest:alice/history")
    assert [(m["role"], m["content"]) for m in history["messages"]] == [
        ("user", "Hi, I'm Alice"),
        ("assistant", "Hello there, Alice."),
    ]
    assert fake_llm.history[0].messages[-1].content == "Hi, I'm Alice"


async def test_chat_with_a_persona_switches_first_and_keeps_it(
    api: TestClient, api_chat: ChatService, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue("Arr, ahoy!")
    body = await call(api, "POST", "/chat", json={"user_id": "rest:bo", "message": "hello", "persona": "pirate"})
    assert body["persona"] == "pirate"
    pirate = api_chat.personas.get("pirate")
    assert fake_llm.history[0].system is not None and pirate.system_prompt in fake_llm.history[0].system
    fake_llm.enqueue("Still a pirate.")
    assert (await call(api, "POST", "/chat", json={"user_id": "rest:bo", "message": "again"}))["persona"] == "pirate"


async def test_session_start_creates_a_session_with_the_persona(api: TestClient) -> None:
    body = await call(api, "POST", "/session/start", json={"user_id": "rest:carol", "persona": "tutor"})
    assert body["user_id"] == body["conversation_id"] == "rest:carol"
    assert body["persona"] == "tutor"
    assert body["message_count"] == 0
    assert body["created_at"] <= body["last_activity"]
    plain = await call(api, "POST", "/session/start", json={"user_id": "rest:dan"})
    assert plain["persona"] == "assistant"


async def test_history_pages_backwards_newest_last(api: TestClient, fake_llm: FakeLLM) -> None:
    for i in range(3):
        fake_llm.enqueue(f"answer {i}")
        await call(api, "POST", "/chat", json={"user_id": "rest:pager", "message": f"question {i}"})
    newest = await call(api, "GET", "/session/rest:pager/history", params={"limit": "2"})
    assert [m["content"] for m in newest["messages"]] == ["question 2", "answer 2"]
    assert [m["seq"] for m in newest["messages"]] == [4, 5]
    page = {"limit": "3", "before": newest["next_before"]}
    older = await call(api, "GET", "/session/rest:pager/history", params=page)
    assert [m["content"] for m in older["messages"]] == ["answer 0", "question 1", "answer 1"]
    oldest = await call(api, "GET", "/session/rest:pager/history", params={"before": older["next_before"]})
    assert [m["content"] for m in oldest["messages"]] == ["question 0"]
    assert oldest["next_before"] is None


async def test_clear_forgets_history_and_persona(api: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue("Arr.")
    await call(api, "POST", "/chat", json={"user_id": "rest:eve", "message": "hi", "persona": "pirate"})
    cleared = {"user_id": "rest:eve", "conversation_id": "rest:eve", "cleared": True}
    assert await call(api, "DELETE", "/session/rest:eve/clear") == cleared
    assert (await call(api, "GET", "/session/rest:eve/history"))["messages"] == []
    assert await call(api, "DELETE", "/session/rest:eve/clear") == {**cleared, "cleared": False}
    fake_llm.enqueue("Hello.")
    assert (await call(api, "POST", "/chat", json={"user_id": "rest:eve", "message": "hi"}))["persona"] == "assistant"


async def test_put_persona_switches_and_keeps_history(
    api: TestClient, api_chat: ChatService, fake_llm: FakeLLM
) -> None:
    # A Discord DM, as the Discord adapter runs it: an operator manages any platform's conversation.
    fake_llm.enqueue("Hi.")
    await api_chat.reply("discord:1234", "hello")
    body = await call(api, "PUT", "/session/discord:1234/persona", json={"persona": "engineer"})
    assert body["persona"] == "engineer"
    assert body["conversation_id"] == body["user_id"] == "discord:1234"
    assert body["message_count"] == 2
    assert len((await call(api, "GET", "/session/discord:1234/history"))["messages"]) == 2


async def test_personas_lists_the_loaded_set(api: TestClient, api_chat: ChatService) -> None:
    body = await call(api, "GET", "/personas")
    assert body["default"] == "assistant"
    names = [p["name"] for p in body["personas"]]
    assert names == api_chat.personas.names()
    pirate = next(p for p in body["personas"] if p["name"] == "pirate")
    persona = api_chat.personas.get("pirate")
    assert pirate == {
        "name": "pirate",
        "display_name": persona.display_name,
        "description": persona.description,
        "temperature": persona.temperature,
        "max_tokens": persona.max_tokens,
    }


async def test_reload_picks_up_a_new_persona_file(api: TestClient, settings: Settings) -> None:
    (settings.personas_dir / "poet.yaml").write_text(
        "name: poet\ndisplay_name: Poet\nsystem_prompt: You answer in rhyme.\n", encoding="utf-8"
    )
    body = await call(api, "POST", "/personas/reload")
    assert "poet" in body["personas"]
    assert "poet" in [p["name"] for p in (await call(api, "GET", "/personas"))["personas"]]


async def test_active_sessions_most_recent_first_with_total(api: TestClient, fake_llm: FakeLLM) -> None:
    for name in ("one", "two", "three"):
        fake_llm.enqueue("ok")
        await call(api, "POST", "/chat", json={"user_id": f"rest:{name}", "message": "hi"})
    body = await call(api, "GET", "/sessions/active", params={"limit": "2"})
    assert [s["user_id"] for s in body["sessions"]] == ["rest:three", "rest:two"]
    assert [s["conversation_id"] for s in body["sessions"]] == ["rest:three", "rest:two"]
    assert (body["total"], body["offset"], body["limit"]) == (3, 0, 2)
    rest = await call(api, "GET", "/sessions/active", params={"offset": "2"})
    assert [s["user_id"] for s in rest["sessions"]] == ["rest:one"]


async def test_list_pages_are_exactly_their_documented_models(api: TestClient, api_chat: ChatService) -> None:
    """The two list endpoints skip model validation for speed; their bodies must still be the models."""
    store = api_chat.store
    odd = "lone \ud800 surrogate, é, 🦜"
    messages = [Message("user", odd, 1.0), Message("assistant", "cut", 2.0, {"incomplete": True})]
    await store.append_turn("rest:shape", "pirate", messages, time.time())
    await store.touch("rest:shape", "pirate", time.time(), {"nick": odd})

    history = await call(api, "GET", "/session/rest:shape/history")
    assert HistoryOut.model_validate(history).model_dump(mode="json") == history
    assert [(m["content"], m["incomplete"]) for m in history["messages"]] == [(odd, False), ("cut", True)]
    active = await call(api, "GET", "/sessions/active")
    assert ActiveOut.model_validate(active).model_dump(mode="json") == active
    assert active["sessions"][0]["metadata"] == {"nick": odd}


async def test_openapi_document_is_served(api: TestClient) -> None:
    body = await call(api, "GET", "/openapi.json")
    assert body["openapi"].startswith("3.1")
    assert "/chat" in body["paths"]


async def test_metrics_serves_prometheus_text(api: TestClient) -> None:
    response = await api.get("/metrics", headers=AUTH)
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert "nono_llm_queue_depth" in await response.text()


@pytest.mark.parametrize("settings_values", [{"telegram_webhook_secret": "hook-secret"}])
async def test_telegram_webhook_feeds_the_adapter(
    aiohttp_client: Callable[..., Any], settings: Settings, api_chat: ChatService
) -> None:
    """Webhook mode as the runner wires it: the secret in the options, the Telegram part's feed handed over."""
    received: list[dict[str, Any]] = []

    async def feed(update: dict[str, Any]) -> None:
        received.append(update)

    api = await aiohttp_client(make_app(settings, api_chat, feed=feed))
    update = {"update_id": 7, "message": {"message_id": 1, "text": "hi"}}
    response = await api.post(
        "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}
    )
    assert response.status == 200
    assert await response.json() == {"ok": True}
    assert received == [update]
