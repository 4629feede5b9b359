"""WebSocket chat: chunks then done, error frames that keep the socket open, auth and limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from nono.adapters.http.requests import CHAT
from nono.bot.settings import Settings
from nono.core.errors import ModelUnavailable
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import AUTH, make_app, make_chat


async def frames_until_done(ws: aiohttp.ClientWebSocketResponse) -> list[dict]:
    frames = []
    while True:
        frame = await ws.receive_json()
        frames.append(frame)
        if frame["type"] in ("done", "error"):
            return frames


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], settings: Settings, any_store: Any, fake_llm: FakeLLM
) -> TestClient:
    """Every WebSocket test runs over SQLite and the real Redis."""
    return await aiohttp_client(make_app(settings, make_chat(settings, any_store, fake_llm)))


async def test_a_message_streams_chunks_then_done(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(["Hel", "lo ", "there"])
    async with client.ws_connect("/ws/chat/rest:wsuser", headers=AUTH) as ws:
        await ws.send_json({"message": "hi"})
        frames = await frames_until_done(ws)
    assert frames == [
        {"type": "chunk", "text": "Hel"},
        {"type": "chunk", "text": "lo "},
        {"type": "chunk", "text": "there"},
        {"type": "done", "reply": "Hello there", "persona": "assistant", "incomplete": False,
         "conversation_id": "rest:wsuser"},
    ]  # fmt: skip
    history = await client.app[CHAT].history("rest:wsuser")
    assert [(m.role, m.content) for m in history] == [("user", "hi"), ("assistant", "Hello there")]


async def test_turns_on_one_socket_share_memory(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue("first")
    fake_llm.enqueue("second")
    async with client.ws_connect("/ws/chat/rest:mem", headers=AUTH) as ws:
        for text in ("one", "two"):
            await ws.send_json({"message": text})
            await frames_until_done(ws)
    assert [m.content for m in fake_llm.history[1].messages[1:]] == ["one", "first", "two"]


@pytest.mark.parametrize(
    ("send", "code", "field"),
    [
        (lambda ws: ws.send_str("not json"), "bad_frame", None),
        (lambda ws: ws.send_bytes(b'{"message": "hi"}'), "bad_frame", None),
        (lambda ws: ws.send_json({"message": "hi", "role": "system"}), "invalid_request", "role"),
        (lambda ws: ws.send_json({"text": "hi"}), "invalid_request", "message"),
        (lambda ws: ws.send_json({"message": " \n "}), "invalid_request", "message"),
        (lambda ws: ws.send_json({"message": "x" * 4001}), "invalid_request", "message"),
        (lambda ws: ws.send_json(["hi"]), "invalid_request", "(whole)"),
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(
    client: TestClient, fake_llm: FakeLLM, send, code: str, field: str | None
) -> None:
    async with client.ws_connect("/ws/chat/rest:bad", headers=AUTH) as ws:
        await send(ws)
        error = await ws.receive_json()
        assert error["type"] == "error" and error["code"] == code and error["message"]
        if field is not None:
            assert field in [e["field"] for e in error["errors"]]
        assert fake_llm.history == []
        fake_llm.enqueue("still here")
        await ws.send_json({"message": "hello?"})
        assert (await frames_until_done(ws))[-1]["reply"] == "still here"


async def test_a_model_failure_is_an_error_frame_and_nothing_is_stored(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(["partial "], error=ModelUnavailable())
    async with client.ws_connect("/ws/chat/rest:fail", headers=AUTH) as ws:
        await ws.send_json({"message": "hi"})
        frames = await frames_until_done(ws)
        assert frames[-1] == {
            "type": "error", "status": 503, "code": "model_unavailable", "message": str(ModelUnavailable()),
        }  # fmt: skip
        fake_llm.enqueue("recovered")
        await ws.send_json({"message": "again"})
        assert (await frames_until_done(ws))[-1]["reply"] == "recovered"
    history = await client.app[CHAT].history("rest:fail")
    assert [m.content for m in history] == ["again", "recovered"]


@pytest.mark.parametrize("user_id", ["discord:1234", "rest:a%2Fb", "a%20b", "rest:", "x" * 124])
async def test_an_id_that_is_no_rest_person_is_refused_before_the_handshake(client: TestClient, user_id: str) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(f"/ws/chat/{user_id}", headers=AUTH)
    assert refused.value.status == 422
    assert await client.app[CHAT].store.get_session("discord:1234") is None


async def test_a_bare_id_speaks_as_that_rest_person(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue("hi bare")
    async with client.ws_connect("/ws/chat/bare", headers=AUTH) as ws:
        await ws.send_json({"message": "hello"})
        assert (await frames_until_done(ws))[-1]["conversation_id"] == "rest:bare"
    history = await client.app[CHAT].history("rest:bare")
    assert [(m.role, m.content, m.speaker_id) for m in history] == [
        ("user", "hello", "rest:bare"), ("assistant", "hi bare", None),
    ]  # fmt: skip


async def test_a_plain_get_is_426(client: TestClient) -> None:
    response = await client.get("/ws/chat/rest:x", headers=AUTH)
    assert response.status == 426
    assert response.content_type == "application/problem+json"
    assert response.headers["Upgrade"] == "websocket"


async def test_a_frame_over_64_kib_closes_with_1009(client: TestClient, fake_llm: FakeLLM) -> None:
    async with client.ws_connect("/ws/chat/rest:huge", headers=AUTH) as ws:
        await ws.send_str("x" * (64 * 1024 + 1))
        closing = await ws.receive()
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert fake_llm.history == []


async def test_leaving_mid_reply_keeps_the_part_marked_incomplete(client: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue([f"w{i} " for i in range(400)], delay=0.01)
    ws = await client.ws_connect("/ws/chat/rest:leaver", headers=AUTH)
    await ws.send_json({"message": "tell me everything"})
    assert (await ws.receive_json())["type"] == "chunk"
    await ws.close()
    chat = client.app[CHAT]
    for _ in range(500):  # wait (bounded) for the server to notice and store the part
        history = await chat.history("rest:leaver")
        if history:
            break
        await asyncio.sleep(0.01)
    assert [m.role for m in history] == ["user", "assistant"]
    assert history[1].incomplete
    assert 0 < len(history[1].content) < len("".join(f"w{i} " for i in range(400)))
