"""Fifty `POST /chat` requests of one user in flight at once, through the real sidecar app.

Each request is sent while all earlier ones are still unanswered, so the order they reached
Nono is known; every one is answered with the reply to its own message, in that order, while
another user's request completes; history holds the 100 entries in order. SQLite and real Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import AUTH, make_app, make_chat, make_settings
from tests.hardening.conftest import FLOOD, FLOOD_LIMITS, conversation, until

ROOT = Path(__file__).resolve().parents[2]
ALICE, BOB = "rest:alice", "rest:bob"


async def post_chat(client: TestClient, user_id: str, message: str) -> tuple[int, dict]:
    response = await client.post("/chat", headers=AUTH, json={"user_id": user_id, "message": message})
    return response.status, await response.json()


async def test_fifty_chat_requests_in_flight_are_answered_in_arrival_order(
    aiohttp_client: Callable[..., Any], tmp_path: Path, durable_store: Any
) -> None:
    settings = make_settings(
        tmp_path,
        personas_dir=ROOT / "personas",
        max_pending_per_user=FLOOD_LIMITS.max_pending_per_user,
        rate_limit_per_minute=0,  # 0 turns the rate limit off
    )
    llm = FakeLLM()
    chat = make_chat(settings, durable_store, llm)
    assert (chat.limits.max_pending_per_user, chat.limits.rate_limit_per_minute) == (60, None)
    client = await aiohttp_client(make_app(settings, chat))
    first_held = asyncio.Event()
    llm.enqueue("reply 0", wait_for=first_held)
    llm.enqueue("Bob's answer")
    for n in range(1, FLOOD):
        llm.enqueue(["reply", f" {n}"], delay=(FLOOD - n) * 0.0002)

    requests = []
    for n in range(FLOOD):
        requests.append(asyncio.create_task(post_chat(client, ALICE, f"message {n}")))
        await until(lambda n=n: chat.waiting(ALICE) == n + 1, what=f"request {n} to take its place in line")
    assert not any(r.done() for r in requests)

    assert await asyncio.wait_for(post_chat(client, BOB, "quick question"), timeout=10) == (
        200,
        {"user_id": BOB, "conversation_id": BOB, "reply": "Bob's answer", "persona": "assistant", "incomplete": False},
    )
    assert chat.waiting(ALICE) == FLOOD and not any(r.done() for r in requests)
    first_held.set()
    answers = await asyncio.gather(*requests)

    assert [status for status, _ in answers] == [200] * FLOOD
    assert [body["reply"] for _, body in answers] == [f"reply {n}" for n in range(FLOOD)]
    page = await client.get(f"/session/{ALICE}/history", params={"limit": "100"}, headers=AUTH)
    body = await page.json()
    messages = body["messages"]
    assert [m["content"] for m in messages] == conversation(FLOOD)
    assert [m["role"] for m in messages] == ["user", "assistant"] * FLOOD
    assert not any(m["incomplete"] for m in messages)
    assert messages[0]["seq"] == 0 and body["next_before"] is None, "exactly 100 entries, nothing older"
