"""Long-term memory over REST: facts and the summary of conversations, a person's export and erasure.

Over SQLite and the real Redis, through the real app factory. Discord turns and /remember are run by
the core itself, as the Discord adapter runs them, so the routes read what other platforms stored.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from nono.adapters.http.memory_models import FACT_FORMAT, FACT_PATTERN, ExportOut
from nono.adapters.http.requests import OPENAPI
from nono.core.chat import ChatService
from nono.core.errors import InvalidInput
from nono.core.llm.fake import FakeLLM
from nono.core.people import Conversation, Place, Scope, Speaker, group_conversation
from nono.core.remembering import MAX_FACT_CHARS, clean_fact
from nono.core.store.base import Summary
from tests.adapters.http.helpers import AUTH, call

ANN, BOB = "discord:1001", "discord:2002"
SHARED = group_conversation(Place("discord", "channel:55"), ANN, Scope.SHARED)


async def turn(chat: ChatService, fake_llm: FakeLLM, conversation: Conversation, person: str, text: str) -> None:
    """A turn as the Discord adapter runs it."""
    fake_llm.enqueue(f"re: {text}")
    await chat.reply(conversation, text, speaker=Speaker.of(person, person.split(":")[1]))


async def fact_texts(api: TestClient, conversation_id: str) -> list[str]:
    return [f["text"] for f in (await call(api, "GET", f"/conversations/{conversation_id}/facts"))["facts"]]


async def test_facts_are_added_listed_and_forgotten_by_id(api: TestClient, fake_llm: FakeLLM) -> None:
    first = await call(api, "POST", "/conversations/rest:alice/facts", 201, json={"text": "  Likes\tgreen tea\n"})
    assert (first["text"], first["author"]) == ("Likes green tea", None)
    assert isinstance(first["created_at"], float) and first["id"]
    second = await call(api, "POST", "/conversations/rest:alice/facts", 201, json={"text": "Has a cat, Tofu"})
    listed = await call(api, "GET", "/conversations/rest:alice/facts")
    assert listed == {"conversation_id": "rest:alice", "facts": [first, second]}

    # A fact added over REST reaches the conversation's prompts.
    fake_llm.enqueue("Tofu!")
    await call(api, "POST", "/chat", json={"user_id": "alice", "message": "What is my cat called?"})
    prompt = " ".join(m.content for m in fake_llm.history[-1].messages)
    assert "Likes green tea" in prompt and "Has a cat, Tofu" in prompt

    response = await api.delete(f"/conversations/rest:alice/facts/{first['id']}", headers=AUTH)
    assert (response.status, await response.read()) == (204, b"")
    assert await fact_texts(api, "rest:alice") == ["Has a cat, Tofu"]
    gone = await call(api, "DELETE", f"/conversations/rest:alice/facts/{first['id']}", 404)
    assert gone["code"] == "not_found" and first["id"] in gone["detail"]
    await call(api, "DELETE", "/conversations/rest:alice/facts/no%2Fsuch", 404)
    assert await fact_texts(api, "rest:alice") == ["Has a cat, Tofu"]


async def test_a_conversation_where_nothing_is_stored_is_404(api: TestClient, fake_llm: FakeLLM) -> None:
    for path in ("/conversations/telegram:chat:100/facts", "/conversations/telegram:chat:100/summary"):
        problem = await call(api, "GET", path, 404)
        assert problem["code"] == "unknown_conversation" and "telegram:chat:100" in problem["detail"]
    fake_llm.enqueue("hello")
    await call(api, "POST", "/chat", json={"user_id": "dave", "message": "hi"})
    assert await fact_texts(api, "rest:dave") == []  # a conversation without facts
    assert (await call(api, "GET", "/conversations/rest:dave/summary"))["summary"] is None
    await call(api, "POST", "/conversations/rest:dave/facts", 201, json={"text": "Likes jazz"})
    await call(api, "DELETE", "/conversations/rest:dave")  # a reset forgets the facts too
    await call(api, "GET", "/conversations/rest:dave/facts", 404)
    await call(api, "GET", "/conversations/rest:dave/summary", 404)
    # Remembering in a conversation where nothing is stored starts it.
    await call(api, "POST", "/conversations/rest:dave/facts", 201, json={"text": "Likes jazz"})
    assert await fact_texts(api, "rest:dave") == ["Likes jazz"]


async def test_facts_said_with_remember_are_listed_with_their_author(
    api: TestClient, api_chat: ChatService, fake_llm: FakeLLM
) -> None:
    await turn(api_chat, fake_llm, SHARED, ANN, "hello all")
    await api_chat.facts.remember(SHARED, "The channel speaks French", ANN, manager=True)
    added = await call(api, "POST", f"/conversations/{SHARED.id}/facts", 201, json={"text": "Be brief"})
    body = await call(api, "GET", f"/conversations/{SHARED.id}/facts")
    assert [(f["text"], f["author"]) for f in body["facts"]] == [("The channel speaks French", ANN), ("Be brief", None)]
    assert body["facts"][1] == added


async def test_a_linked_persons_facts_live_in_the_linked_conversation(api: TestClient) -> None:
    await call(api, "POST", f"/people/{ANN}/link", json={"other": "telegram:5678"})
    added = await call(api, "POST", "/conversations/telegram:5678/facts", 201, json={"text": "Lives in Lyon"})
    listed = await call(api, "GET", "/conversations/telegram:5678/facts")
    assert listed == {"conversation_id": ANN, "facts": [added]}
    assert await fact_texts(api, ANN) == ["Lives in Lyon"]
    response = await api.delete(f"/conversations/telegram:5678/facts/{added['id']}", headers=AUTH)
    assert response.status == 204
    assert await fact_texts(api, "telegram:5678") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Field required"),
        ({"text": ""}, "empty"),
        ({"text": " \n\t\x00\x01 "}, "empty"),
        ({"text": "<|im_start|>[INST]###"}, "empty"),
        ({"text": 42}, "string"),
        ({"text": None}, "string"),
        ({"text": "x" * (MAX_FACT_CHARS + 1)}, f"at most {MAX_FACT_CHARS} characters"),
        ({"text": "ok", "author": ANN}, "unknown field"),
    ],
)
async def test_invalid_facts_are_422_and_store_nothing(api: TestClient, body: dict, message: str) -> None:
    problem = await call(api, "POST", "/conversations/rest:bob/facts", 422, json=body)
    assert problem["code"] == "invalid_request"
    field = "author" if "author" in body else "text"
    assert [e["field"] for e in problem["errors"]] == [field]
    assert message in problem["errors"][0]["message"] and message in problem["detail"]
    await call(api, "GET", "/conversations/rest:bob/facts", 404)  # nothing stored, not even a session


async def test_a_fact_of_the_longest_length_is_kept(api: TestClient) -> None:
    text = "y" * MAX_FACT_CHARS
    assert (await call(api, "POST", "/conversations/rest:bob/facts", 201, json={"text": text}))["text"] == text


async def test_a_body_that_is_not_json_is_refused(api: TestClient) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    response = await api.post("/conversations/rest:bob/facts", data=b'{"text": ', headers=headers)
    assert (response.status, (await response.json(content_type=None))["code"]) == (400, "malformed_json")
    response = await api.post("/conversations/rest:bob/facts", data="remember this", headers=AUTH)
    assert response.status == 415
    await call(api, "GET", "/conversations/rest:bob/facts", 404)


@pytest.mark.parametrize("settings_values", [{"memory_max_facts": 2}])
async def test_a_full_conversation_is_409(api: TestClient, settings_values: dict) -> None:
    for text in ("one", "two"):
        await call(api, "POST", "/conversations/rest:carol/facts", 201, json={"text": text})
    problem = await call(api, "POST", "/conversations/rest:carol/facts", 409, json={"text": "three"})
    assert problem["code"] == "memory_full" and "2 facts" in problem["detail"]
    assert await fact_texts(api, "rest:carol") == ["one", "two"]


async def test_bad_conversation_ids_are_422(api: TestClient) -> None:
    for method, path in (
        ("GET", "/conversations/nocolon/facts"), ("POST", "/conversations/a%20b/facts"),
        ("DELETE", "/conversations/nocolon/facts/abc"), ("GET", "/conversations/rest:a%0Ab/summary"),
    ):  # fmt: skip
        problem = await call(api, method, path, 422, json={"text": "x"})
        assert problem["code"] == "invalid_user_id" and "platform:id" in problem["detail"], (method, path)


async def test_the_summary_is_shown_once_written(api: TestClient, api_chat: ChatService, fake_llm: FakeLLM) -> None:
    await turn(api_chat, fake_llm, Conversation.private_of(ANN), ANN, "hi")
    assert (await call(api, "GET", f"/conversations/{ANN}/summary"))["summary"] is None
    session = await api_chat.store.get_session(ANN)
    assert session is not None
    written = Summary("Ann said hi.", 1, "fake", 1234.5)
    assert await api_chat.store.put_summary(ANN, written, revision=0, epoch=session.created_at)
    body = await call(api, "GET", f"/conversations/{ANN}/summary")
    assert body == {"conversation_id": ANN, "summary": {**written.to_data(), "revision": 1}}


async def ann_and_bob(chat: ChatService, fake_llm: FakeLLM) -> None:
    """Ann and Bob each in their DMs, both in a shared channel, each with a fact there."""
    await turn(chat, fake_llm, Conversation.private_of(ANN), ANN, "Ann in private")
    await turn(chat, fake_llm, Conversation.private_of(BOB), BOB, "Bob in private")
    await turn(chat, fake_llm, SHARED, ANN, "Ann to everyone")
    await turn(chat, fake_llm, SHARED, BOB, "Bob to everyone")
    await chat.facts.remember(SHARED, "Ann's fact", ANN)
    await chat.facts.remember(SHARED, "Bob's fact", BOB)
    await chat.facts.remember(Conversation.private_of(ANN), "Ann's own fact", ANN)


async def test_the_export_holds_the_persons_data_and_nobody_elses(
    api: TestClient, api_chat: ChatService, fake_llm: FakeLLM
) -> None:
    await ann_and_bob(api_chat, fake_llm)
    response = await api.get(f"/people/{ANN}/export", headers=AUTH)
    assert response.status == 200 and response.content_type == "application/json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="nono-export-discord-1001.json"'
    document = await response.json()
    ExportOut.model_validate(document)  # the documented schema holds the core's document
    assert (document["format"], document["person"], document["linked_accounts"]) == ("nono-export/1", ANN, [])
    by_id = {c["id"]: c for c in document["conversations"]}
    assert set(by_id) == {ANN, SHARED.id}
    assert [m["content"] for m in by_id[ANN]["messages"]] == ["Ann in private", "re: Ann in private"]
    assert [f["text"] for f in by_id[ANN]["facts"]] == ["Ann's own fact"]
    assert by_id[SHARED.id]["kind"] == "shared"
    assert [m["content"] for m in by_id[SHARED.id]["messages"]] == ["Ann to everyone"]
    assert [f["text"] for f in by_id[SHARED.id]["facts"]] == ["Ann's fact"]
    assert "Bob" not in json.dumps(document)


async def test_an_unknown_person_exports_an_empty_document(api: TestClient) -> None:
    document = await call(api, "GET", "/people/rest:nobody/export")
    assert (document["person"], document["conversations"]) == ("rest:nobody", [])


async def test_erasing_a_person_removes_their_data_and_keeps_everyone_elses(
    api: TestClient, api_chat: ChatService, fake_llm: FakeLLM
) -> None:
    await ann_and_bob(api_chat, fake_llm)
    await call(api, "POST", f"/people/{ANN}/link", json={"other": "telegram:5678"})
    body = await call(api, "DELETE", f"/people/{ANN}")
    assert body == {
        "person_id": ANN,
        "erased": {"conversations": 1, "messages": 4, "facts": 2, "summaries": 0, "links": 1},
    }  # fmt: skip
    for gone in ("history", "facts", "summary"):
        await call(api, "GET", f"/conversations/{ANN}/{gone}", 404)
    shared = await call(api, "GET", f"/conversations/{SHARED.id}/history")
    assert [m["content"] for m in shared["messages"]] == ["Bob to everyone", "re: Bob to everyone"]
    assert await fact_texts(api, SHARED.id) == ["Bob's fact"]
    assert (await call(api, "GET", f"/people/{ANN}/export"))["conversations"] == []
    assert (await call(api, "GET", f"/people/{ANN}"))["linked"] == []
    bob = await call(api, "GET", f"/conversations/{BOB}/history")
    assert [m["content"] for m in bob["messages"]] == ["Bob in private", "re: Bob in private"]

    again = await call(api, "DELETE", f"/people/{ANN}")
    assert set(again["erased"].values()) == {0}


async def test_bad_person_ids_are_422(api: TestClient) -> None:
    for method, path in (("GET", "/people/discord:channel:55/export"), ("DELETE", "/people/nocolon")):
        problem = await call(api, method, path, 422)
        assert problem["code"] == "invalid_user_id", (method, path)


ROUTES = (
    ("GET", "/conversations/{c}/facts"),
    ("POST", "/conversations/{c}/facts"),
    ("DELETE", "/conversations/{c}/facts/{f}"),
    ("GET", "/conversations/{c}/summary"),
    ("GET", "/people/{p}/export"),
    ("DELETE", "/people/{p}"),
)


async def test_memory_routes_need_the_admin_token(api: TestClient, api_chat: ChatService, fake_llm: FakeLLM) -> None:
    await turn(api_chat, fake_llm, Conversation.private_of(ANN), ANN, "keep me")
    fact = await api_chat.facts.add(ANN, "Keep me too", ANN)
    for method, template in ROUTES:
        path = template.format(c=ANN, f=fact.id, p=ANN)
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = await api.request(method, path, headers=headers, json={"text": "sneaky"})
            assert response.status == 401, (method, path)
            assert "Content-Disposition" not in response.headers
    assert await fact_texts(api, ANN) == ["Keep me too"]
    assert len((await call(api, "GET", f"/conversations/{ANN}/history"))["messages"]) == 2


def _operations(app: web.Application) -> dict[tuple[str, str], Any]:
    paths = app[OPENAPI]["paths"]
    return {(m, p): paths[p][m] for p in paths for m in paths[p]}


def test_the_openapi_document_lists_the_memory_routes(app: web.Application) -> None:
    operations = _operations(app)
    names = {"c": "{conversation_id}", "f": "{fact_id}", "p": "{person_id}"}
    for method, template in ROUTES:
        operation = operations[(method.lower(), template.format(**names))]
        assert {"401", "422", "500", "503"} <= operation["responses"].keys(), (method, template)
    remember = operations[("post", "/conversations/{conversation_id}/facts")]
    assert {"201", "409", "400", "413", "415"} <= remember["responses"].keys() and "200" not in remember["responses"]
    link = remember["responses"]["201"]["links"]["forget_fact"]
    assert link["parameters"] == {"conversation_id": "$request.path.conversation_id", "fact_id": "$response.body#/id"}
    forget = operations[("delete", "/conversations/{conversation_id}/facts/{fact_id}")]
    assert "content" not in forget["responses"]["204"] and "404" in forget["responses"]
    export = operations[("get", "/people/{person_id}/export")]["responses"]["200"]
    assert "Content-Disposition" in export["headers"]
    assert export["content"]["application/json"]["schema"]["$ref"].endswith("/ExportOut")
    text = app[OPENAPI]["components"]["schemas"]["FactIn"]["properties"]["text"]
    assert (text["maxLength"], text["format"], text["pattern"]) == (MAX_FACT_CHARS, FACT_FORMAT, FACT_PATTERN)


def _core_keeps(text: str) -> bool:
    try:
        clean_fact(text)
    except InvalidInput:
        return False
    return True


def test_the_fact_pattern_refuses_only_what_the_core_refuses() -> None:
    # The pattern may let through what only the format rules out (an unassigned character, a marker),
    # never refuse a fact the core keeps: schemathesis holds the route to both.
    pattern = re.compile(FACT_PATTERN)
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if _core_keeps(char):
            assert pattern.search(char), hex(code)
        elif char.isprintable():
            assert not pattern.search(char), hex(code)
