"""Bad requests get precise problem+json answers and change nothing; failures leak nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from nono.adapters.http.requests import CHAT
from nono.core.chat import ChatService
from nono.core.errors import ModelUnavailable, RateLimited
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import AUTH

JSON_AUTH = {**AUTH, "Content-Type": "application/json"}


async def problem(response: Any, status: int) -> dict:
    body = await response.json(content_type=None)
    assert response.status == status, body
    assert response.content_type == "application/problem+json"
    assert body["status"] == status and body["title"] and body["detail"] and body["code"]
    return body


def chat_of(client: TestClient) -> ChatService:
    return client.app[CHAT]


async def test_a_body_over_64_kib_is_413(client: TestClient) -> None:
    message = "a" * (64 * 1024)
    response = await client.post("/chat", headers=AUTH, json={"user_id": "rest:big", "message": message})
    body = await problem(response, 413)
    assert "64 KiB" in body["detail"]
    assert await chat_of(client).session("rest:big") is None


async def test_malformed_json_is_400(client: TestClient) -> None:
    for raw in (b'{"user_id": "rest:x", ', b"\xff\xfe not utf", b"[" * 5000, b""):
        body = await problem(await client.post("/chat", headers=JSON_AUTH, data=raw), 400)
        assert body["code"] == "malformed_json"


async def test_a_body_not_declared_as_json_is_415(client: TestClient) -> None:
    response = await client.post("/chat", headers={**AUTH, "Content-Type": "text/plain"}, data=b'{"user_id": "rest:x"}')
    await problem(response, 415)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "rest:x", "message": "hi", "role": "system"}, "role"),
        ({"user_id": "rest:x", "message": "hi", "system_prompt": "obey"}, "system_prompt"),
        ({"user_id": "rest:x", "message": 42}, "message"),
        ({"user_id": 42, "message": "hi"}, "user_id"),
        ({"user_id": "rest:x", "message": "hi", "persona": ["pirate"]}, "persona"),
        ({"user_id": "rest:x"}, "message"),
        ({"user_id": "rest:x", "message": "   \n\x00 "}, "message"),
        ({"user_id": "rest:x", "message": "x" * 4001}, "message"),
        ({"user_id": "no colon", "message": "hi"}, "user_id"),
        ({"user_id": "rest:" + "x" * 200, "message": "hi"}, "user_id"),
        ({"user_id": "x" * 124, "message": "hi"}, "user_id"),  # rest: would make it 129 characters
        ({"user_id": "discord:1234", "message": "hi"}, "user_id"),  # REST callers speak as rest: people only
        ({"user_id": "rest:a/b", "message": "hi"}, "user_id"),
        ({"user_id": "rest:", "message": "hi"}, "user_id"),
        ({"user_id": "rest:a\u0000b", "message": "hi"}, "user_id"),
        (["user_id", "message"], "(whole)"),
    ],
)
async def test_invalid_chat_bodies_are_422_naming_the_field(
    client: TestClient, fake_llm: FakeLLM, body: Any, field: str
) -> None:
    result = await problem(await client.post("/chat", headers=AUTH, json=body), 422)
    assert field in [e["field"] for e in result["errors"]]
    assert field in result["detail"]
    assert fake_llm.history == []
    assert await chat_of(client).store.get_session("rest:x") is None


async def test_unknown_fields_are_refused_on_every_body(client: TestClient) -> None:
    cases = [
        ("POST", "/session/start", {"user_id": "rest:x", "metadata": {}}),
        ("PUT", "/session/rest:x/persona", {"persona": "pirate", "system_prompt": "x"}),
        ("PUT", "/conversations/rest:x/persona", {"persona": "pirate", "system_prompt": "x"}),
        ("POST", "/people/rest:x/link", {"other": "rest:y", "code": "ABC"}),
    ]
    for method, path, body in cases:
        result = await problem(await client.request(method, path, headers=AUTH, json=body), 422)
        assert result["errors"][0]["message"] == "unknown field"


@pytest.mark.parametrize(
    "user_id", ["rest", "rest:", ":x", "rest:a%20b", "REST:x", "rest:a%09b", "rest:a%0Ab", "rest:a%7Fb"]
)
async def test_invalid_path_user_ids_are_422(client: TestClient, user_id: str) -> None:
    paths = ("/session/{}/history", "/session/{}/clear", "/conversations/{}/history", "/conversations/{}")
    for method, path in zip(("GET", "DELETE", "GET", "DELETE"), paths, strict=True):
        response = await client.request(method, path.format(user_id), headers=AUTH)
        assert (await problem(response, 422))["code"] == "invalid_user_id"


async def test_dot_segments_never_reach_a_user_route(client: TestClient) -> None:
    for path in (
        "/session/../history", "/session/%2e%2e/history", "/session/rest:x/../../personas/reload",
        "/conversations/../history", "/conversations/rest:x/../../personas/reload", "/people/../link/rest:x",
    ):  # fmt: skip
        response = await client.delete(path, headers=AUTH)
        assert response.status in (404, 405)
        assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(("user_id", "in_path"), [("rest:a/../b", "rest:a%2F..%2Fb"), ("rest:{x}%", "rest:%7Bx%7D%25")])
async def test_any_valid_user_id_is_reachable_in_a_path(
    client: TestClient, fake_llm: FakeLLM, user_id: str, in_path: str
) -> None:
    # Stored under an id no REST person may have (older versions let REST callers write as any user id).
    fake_llm.enqueue("ok")
    await chat_of(client).reply(user_id, "hi")
    for path in (f"/session/{in_path}/history", f"/conversations/{in_path}/history"):
        response = await client.get(path, headers=AUTH)
        assert response.status == 200
        body = await response.json()
        assert body["user_id"] == body["conversation_id"] == user_id
        assert len(body["messages"]) == 2


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=ten", "limit=1.0", "limit=-1", "before=-3", "limit=2&limit=3", "page=2"]
)
async def test_bad_query_parameters_are_422(client: TestClient, query: str) -> None:
    for path in ("/session/rest:x/history", "/conversations/rest:x/history"):
        result = await problem(await client.get(f"{path}?{query}", headers=AUTH), 422)
        assert result["errors"][0]["field"] in query


async def test_unknown_persona_is_404_listing_the_valid_ones(client: TestClient, fake_llm: FakeLLM) -> None:
    for method, path, body in (
        ("PUT", "/session/rest:x/persona", {"persona": "wizard"}),
        ("PUT", "/conversations/rest:x/persona", {"persona": "wizard"}),
        ("POST", "/chat", {"user_id": "rest:x", "message": "hi", "persona": "wizard"}),
        ("POST", "/session/start", {"user_id": "rest:x", "persona": "wizard"}),
    ):
        result = await problem(await client.request(method, path, headers=AUTH, json=body), 404)
        assert result["code"] == "unknown_persona"
        assert result["valid"] == chat_of(client).personas.names()
    assert fake_llm.history == []
    assert await chat_of(client).store.get_session("rest:x") is None


async def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    await problem(await client.get("/nope", headers=AUTH), 404)
    not_allowed = await client.post("/personas", headers=AUTH)
    await problem(not_allowed, 405)
    assert not_allowed.headers["Allow"] == "GET"


async def test_a_model_failure_is_503_and_stores_nothing(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue("half an ans", error=ModelUnavailable())
    result = await problem(await client.post("/chat", headers=AUTH, json={"user_id": "rest:x", "message": "hi"}), 503)
    assert result["code"] == "model_unavailable"
    assert result["detail"] == str(ModelUnavailable())
    assert await chat_of(client).history("rest:x") == []


async def test_rate_limited_sets_retry_after(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue([], error=RateLimited(2.5))
    response = await client.post("/chat", headers=AUTH, json={"user_id": "rest:x", "message": "hi"})
    await problem(response, 429)
    assert response.headers["Retry-After"] == "3"


async def test_an_unexpected_error_is_a_bare_500_and_logged(
    client_with: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    async def broken_feed(update: dict) -> None:
        raise RuntimeError("secret internals at /srv/nono/token.txt")

    client = await client_with(feed=broken_feed, telegram_webhook_secret="s3cret")
    with caplog.at_level(logging.ERROR, logger="nono.adapters.http.errors"):
        response = await client.post(
            "/telegram/webhook", json={"update_id": 1}, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
        )
        result = await problem(response, 500)
    text = await response.text()
    assert "secret internals" not in text and "Traceback" not in text and "/srv" not in text
    assert result["code"] == "internal"
    [record] = [r for r in caplog.records if r.message == "sidecar_internal_error"]
    assert record.exc_info is not None and "secret internals" in str(record.exc_info[1])


async def test_a_bad_persona_file_is_422_and_the_old_set_stays(client: TestClient) -> None:
    personas = chat_of(client).personas
    before = personas.names()
    assert personas.directory is not None
    bad = personas.directory / "broken.yaml"
    bad.write_text("name: broken\ndisplay_name: Broken\nsystem_prompt: hi\ntemperature: 9\n", encoding="utf-8")
    result = await problem(await client.post("/personas/reload", headers=AUTH), 422)
    assert result["code"] == "invalid_personas"
    [error] = result["errors"]
    assert error["field"] == "broken.yaml:4"
    assert "temperature" in error["message"]
    assert str(personas.directory) not in repr(result)
    assert personas.names() == before


@pytest.mark.parametrize("secret", [None, "", "wrong"])
async def test_telegram_webhook_secret_is_checked(client_with: Callable[..., Any], secret: str | None) -> None:
    received: list = []

    async def feed(update: dict) -> None:
        received.append(update)

    client = await client_with(feed=feed, telegram_webhook_secret="right")
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    await problem(await client.post("/telegram/webhook", json={"update_id": 1}, headers=headers), 403)
    assert received == []


async def test_telegram_webhook_is_404_outside_webhook_mode(client_with: Callable[..., Any]) -> None:
    client = await client_with(telegram_webhook_secret="right")
    headers = {"X-Telegram-Bot-Api-Secret-Token": "right"}
    await problem(await client.post("/telegram/webhook", json={"update_id": 1}, headers=headers), 404)
