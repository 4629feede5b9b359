"""People over REST: an operator links two people (their private histories merge in time order) and unlinks them.

Over SQLite and the real Redis, through the real app factory. The Discord and Telegram turns are run
by the core, as those adapters run them.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.people import Conversation, Speaker
from tests.adapters.http.helpers import call

DISCORD, TELEGRAM = "discord:1001", "telegram:5678"


async def private_turn(chat: ChatService, fake_llm: FakeLLM, person: str, text: str) -> None:
    """A DM or private-chat turn, as the platform's adapter runs it."""
    fake_llm.enqueue(f"re: {text}")
    await chat.reply(Conversation.private_of(person), text, speaker=Speaker.of(person, "Ann"))


async def contents(api: TestClient, conversation_id: str) -> list[str]:
    body = await call(api, "GET", f"/conversations/{conversation_id}/history", params={"limit": "100"})
    return [m["content"] for m in body["messages"]]


async def test_link_merges_two_private_histories_and_unlink_splits_them(
    api: TestClient, api_chat: ChatService, fake_llm: FakeLLM
) -> None:
    for person, text in ((DISCORD, "d1"), (TELEGRAM, "t1"), (DISCORD, "d2")):
        await private_turn(api_chat, fake_llm, person, text)
    await call(api, "PUT", f"/conversations/{DISCORD}/persona", json={"persona": "pirate"})

    linked = await call(api, "POST", f"/people/{DISCORD}/link", json={"other": TELEGRAM})
    assert linked == {"person_id": DISCORD, "linked": [TELEGRAM], "conversation_id": DISCORD}
    merged = ["d1", "re: d1", "t1", "re: t1", "d2", "re: d2"]
    history = await call(api, "GET", f"/conversations/{TELEGRAM}/history", params={"limit": "100"})
    assert (history["conversation_id"], history["user_id"]) == (DISCORD, TELEGRAM)
    assert [m["content"] for m in history["messages"]] == merged
    assert await contents(api, DISCORD) == merged
    assert await call(api, "GET", f"/people/{TELEGRAM}") == {
        "person_id": TELEGRAM, "linked": [DISCORD], "conversation_id": DISCORD,
    }  # fmt: skip

    # A private chat on Telegram now continues the Discord DMs, with the same persona.
    await private_turn(api_chat, fake_llm, TELEGRAM, "t2")
    assert await contents(api, DISCORD) == [*merged, "t2", "re: t2"]
    assert fake_llm.history[-1].system is not None
    assert api_chat.personas.get("pirate").system_prompt in fake_llm.history[-1].system

    unlinked = await call(api, "DELETE", f"/people/{TELEGRAM}/link/{DISCORD}")
    assert unlinked == {"person_id": TELEGRAM, "linked": [], "conversation_id": TELEGRAM, "unlinked": [DISCORD]}
    assert await contents(api, TELEGRAM) == ["t1", "re: t1", "t2", "re: t2"]
    assert await contents(api, DISCORD) == ["d1", "re: d1", "d2", "re: d2"]
    assert (await call(api, "GET", f"/people/{DISCORD}"))["linked"] == []


async def test_a_linked_rest_person_chats_in_the_linked_conversation(
    api: TestClient, api_chat: ChatService, fake_llm: FakeLLM
) -> None:
    await private_turn(api_chat, fake_llm, TELEGRAM, "from telegram")
    await call(api, "POST", f"/people/{TELEGRAM}/link", json={"other": "rest:alice"})
    fake_llm.enqueue("hello again")
    body = await call(api, "POST", "/chat", json={"user_id": "alice", "message": "from rest"})
    assert (body["user_id"], body["conversation_id"]) == ("rest:alice", TELEGRAM)
    assert await contents(api, "rest:alice") == ["from telegram", "re: from telegram", "from rest", "hello again"]


async def test_an_unlinked_person_is_linked_with_nobody(api: TestClient) -> None:
    body = await call(api, "GET", "/people/rest:solo")
    assert body == {"person_id": "rest:solo", "linked": [], "conversation_id": "rest:solo"}


async def test_linking_again_changes_nothing(api: TestClient, api_chat: ChatService, fake_llm: FakeLLM) -> None:
    await private_turn(api_chat, fake_llm, DISCORD, "once")
    first = await call(api, "POST", f"/people/{DISCORD}/link", json={"other": TELEGRAM})
    again = await call(api, "POST", f"/people/{TELEGRAM}/link", json={"other": DISCORD})
    assert again == {"person_id": TELEGRAM, "linked": [DISCORD], "conversation_id": first["conversation_id"]}
    assert await contents(api, TELEGRAM) == ["once", "re: once"]


async def test_unlinking_people_who_are_not_linked_is_404(api: TestClient, api_chat: ChatService) -> None:
    for path in (f"/people/{DISCORD}/link/{TELEGRAM}", f"/people/{DISCORD}/link/{DISCORD}"):
        body = await call(api, "DELETE", path, 404)
        assert body["code"] == "not_linked"
        assert DISCORD in body["detail"] and "not linked" in body["detail"]
    await call(api, "POST", f"/people/{DISCORD}/link", json={"other": TELEGRAM})
    body = await call(api, "DELETE", f"/people/{DISCORD}/link/rest:stranger", 404)
    assert body["detail"] == f"{DISCORD} is not linked with rest:stranger."
    assert await api_chat.links.linked(DISCORD) == (DISCORD, TELEGRAM)  # the refused unlink changed nothing


async def test_bad_person_ids_are_422(api: TestClient, api_chat: ChatService) -> None:
    group = "discord:channel:55"  # a conversation, never a person
    for method, path in (
        ("GET", f"/people/{group}"), ("GET", "/people/a%20b"), ("GET", "/people/nocolon"),
        ("DELETE", f"/people/{DISCORD}/link/{group}"), ("DELETE", f"/people/{group}/link/{DISCORD}"),
        ("POST", f"/people/{group}/link"),
    ):  # fmt: skip
        body = await call(api, method, path, 422, json={"other": TELEGRAM})
        assert body["code"] == "invalid_user_id" and "platform:id" in body["detail"], (method, path)
    for other in ("nocolon", group, "rest:a b", 42):
        body = await call(api, "POST", f"/people/{DISCORD}/link", 422, json={"other": other})
        assert [e["field"] for e in body["errors"]] == ["other"]
    body = await call(api, "POST", f"/people/{DISCORD}/link", 422, json={"other": DISCORD})
    assert "themselves" in body["detail"]
    assert await api_chat.links.linked(DISCORD) == (DISCORD,)


async def test_people_routes_need_the_admin_token(api: TestClient, api_chat: ChatService) -> None:
    for method, path in (
        ("GET", f"/people/{DISCORD}"), ("POST", f"/people/{DISCORD}/link"),
        ("DELETE", f"/people/{DISCORD}/link/{TELEGRAM}"),
    ):  # fmt: skip
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = await api.request(method, path, headers=headers, json={"other": TELEGRAM})
            assert response.status == 401, (method, path)
    assert await api_chat.links.linked(DISCORD) == (DISCORD,)
