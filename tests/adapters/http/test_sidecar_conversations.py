"""The canonical /conversations routes, the session routes kept as their aliases, and REST callers as rest: people.

Over SQLite and the real Redis, through the real app factory. Turns of other platforms are run by the
core itself, as their adapters run them, so the routes read and manage conversations REST cannot write.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.people import Place, Scope, Speaker, group_conversation
from tests.adapters.http.helpers import call


async def chat(api: TestClient, fake_llm: FakeLLM, user_id: str, message: str, answer: str = "ok") -> dict:
    fake_llm.enqueue(answer)
    return await call(api, "POST", "/chat", json={"user_id": user_id, "message": message})


async def test_canonical_history_pages_backwards_like_the_alias(api: TestClient, fake_llm: FakeLLM) -> None:
    for i in range(3):
        await chat(api, fake_llm, "rest:pager", f"question {i}", f"answer {i}")
    newest = await call(api, "GET", "/conversations/rest:pager/history", params={"limit": "2"})
    assert newest["conversation_id"] == "rest:pager"
    assert [m["content"] for m in newest["messages"]] == ["question 2", "answer 2"]
    older = await call(api, "GET", "/conversations/rest:pager/history", params={"before": newest["next_before"]})
    assert [m["content"] for m in older["messages"]] == ["question 0", "answer 0", "question 1", "answer 1"]
    assert older["next_before"] is None
    alias = await call(api, "GET", "/session/rest:pager/history", params={"limit": "2"})
    assert alias == newest


async def test_delete_clears_the_conversation(api: TestClient, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue("Arr.")
    await call(api, "POST", "/chat", json={"user_id": "rest:eve", "message": "hi", "persona": "pirate"})
    cleared = await call(api, "DELETE", "/conversations/rest:eve")
    assert cleared == {"conversation_id": "rest:eve", "user_id": "rest:eve", "cleared": True}
    assert (await call(api, "GET", "/session/rest:eve/history"))["messages"] == []
    assert (await call(api, "DELETE", "/conversations/rest:eve"))["cleared"] is False
    assert (await chat(api, fake_llm, "rest:eve", "hi again"))["persona"] == "assistant"


async def test_an_unknown_conversation_is_404_and_the_alias_an_empty_page(api: TestClient, fake_llm: FakeLLM) -> None:
    for path in ("/conversations/telegram:chat:100/history", "/conversations/rest:never/history"):
        body = await call(api, "GET", path, 404)
        assert body["code"] == "unknown_conversation" and path.split("/")[2] in body["detail"]
    assert (await call(api, "GET", "/session/rest:never/history"))["messages"] == []

    await chat(api, fake_llm, "rest:was", "hi")
    older = await call(api, "GET", "/conversations/rest:was/history", params={"before": "0"})
    assert older["messages"] == []  # an empty page of a conversation that exists
    await call(api, "DELETE", "/conversations/rest:was")
    await call(api, "GET", "/conversations/rest:was/history", 404)
    await call(api, "PUT", "/conversations/rest:was/persona", json={"persona": "tutor"})
    assert (await call(api, "GET", "/conversations/rest:was/history"))["messages"] == []  # a session, no messages


async def test_put_persona_on_the_canonical_route(api: TestClient, fake_llm: FakeLLM) -> None:
    await chat(api, fake_llm, "rest:pat", "hello")
    body = await call(api, "PUT", "/conversations/rest:pat/persona", json={"persona": "tutor"})
    assert (body["conversation_id"], body["user_id"], body["persona"]) == ("rest:pat", "rest:pat", "tutor")
    assert body["message_count"] == 2
    assert (await chat(api, fake_llm, "rest:pat", "and now?"))["persona"] == "tutor"


async def test_the_active_list_names_conversations_and_its_alias_sessions(api: TestClient, fake_llm: FakeLLM) -> None:
    for name in ("one", "two", "three"):
        await chat(api, fake_llm, name, "hi")
    body = await call(api, "GET", "/conversations", params={"limit": "2"})
    assert [c["conversation_id"] for c in body["conversations"]] == ["rest:three", "rest:two"]
    assert (body["total"], body["offset"], body["limit"]) == (3, 0, 2)
    alias = await call(api, "GET", "/sessions/active", params={"limit": "2"})
    assert alias["sessions"] == body["conversations"]
    assert [s["user_id"] for s in alias["sessions"]] == ["rest:three", "rest:two"]


async def test_group_conversations_are_read_and_managed_by_their_ids(
    api: TestClient, api_chat: ChatService, fake_llm: FakeLLM
) -> None:
    place = Place("discord", "channel:55")
    shared = group_conversation(place, "discord:1", Scope.SHARED)
    own = group_conversation(place, "discord:1", Scope.PERSON)
    for conversation, text in ((shared, "to everyone"), (own, "to my own")):
        fake_llm.enqueue("noted")
        await api_chat.reply(conversation, text, speaker=Speaker.of("discord:1", "Ann"))

    everyone = await call(api, "GET", "/conversations/discord:channel:55/history")
    assert [m["content"] for m in everyone["messages"]] == ["to everyone", "noted"]
    mine = await call(api, "GET", "/conversations/discord:channel:55:person:1/history")
    assert [m["content"] for m in mine["messages"]] == ["to my own", "noted"]
    assert (await call(api, "GET", "/conversations/discord:1/history", 404))["code"] == "unknown_conversation"

    # The operator manages a shared conversation (in the chat, only its managers may).
    persona = await call(api, "PUT", "/conversations/discord:channel:55/persona", json={"persona": "pirate"})
    assert persona["conversation_id"] == "discord:channel:55"
    assert (await call(api, "DELETE", "/conversations/discord:channel:55"))["cleared"] is True
    assert len((await call(api, "GET", "/conversations/discord:channel:55:person:1/history"))["messages"]) == 2


async def test_chat_speaks_as_a_rest_person(api: TestClient, api_chat: ChatService, fake_llm: FakeLLM) -> None:
    first = await chat(api, fake_llm, "alice", "hi, I'm Alice", "hello Alice")
    assert (first["user_id"], first["conversation_id"]) == ("rest:alice", "rest:alice")
    again = await chat(api, fake_llm, "rest:alice", "remember me?", "yes")
    assert again["conversation_id"] == "rest:alice"
    history = await api_chat.history("rest:alice")
    assert [(m.content, m.speaker_id) for m in history if m.role == "user"] == [
        ("hi, I'm Alice", "rest:alice"), ("remember me?", "rest:alice"),
    ]  # fmt: skip
    assert [m.content for m in fake_llm.history[1].messages[1:]] == ["hi, I'm Alice", "hello Alice", "remember me?"]


async def test_chat_cannot_speak_for_another_platforms_person(
    api: TestClient, api_chat: ChatService, fake_llm: FakeLLM
) -> None:
    body = await call(api, "POST", "/chat", 422, json={"user_id": "discord:1234", "message": "I am your DM"})
    [error] = body["errors"]
    assert error["field"] == "user_id"
    assert "rest:<id>" in error["message"] and "/conversations/{conversation_id}" in error["message"]
    assert fake_llm.history == []
    assert await api_chat.store.get_session("discord:1234") is None
    assert await api_chat.store.get_session("rest:discord:1234") is None
