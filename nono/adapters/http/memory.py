"""Long-term memory over REST: a conversation's remembered facts and summary, a person's export and erasure.

The operator manages every conversation, shared ones included, so nothing here asks who manages
a place. A conversation id is read like the other `/conversations/…` routes read it: a linked
person's id names their linked private conversation, and answers say which in `conversation_id`.
"""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from nono.adapters.http.conversations import conversation_exists, unknown_conversation
from nono.adapters.http.memory_models import ErasedOut, ExportOut, FactIn, FactOut, FactsOut, SummaryOut
from nono.adapters.http.openapi import Link, RouteSpec
from nono.adapters.http.requests import chat_of, path_conversation_id, path_person, read_body
from nono.adapters.http.responses import json_response
from nono.core.people import Conversation
from nono.core.remembering import MAX_FACT_CHARS


async def _held(request: web.Request) -> tuple[str, str]:
    """The path's conversation id, and the stored conversation it names (a linked person's: the linked one)."""
    asked = path_conversation_id(request)
    return asked, await chat_of(request).resolve(asked)


async def _require(request: web.Request, asked: str, held: str) -> None:
    """404 when nothing is stored in the conversation, as its history answers (a mistyped id, or cleared)."""
    if not await conversation_exists(chat_of(request), Conversation(held)):
        raise unknown_conversation(asked)


async def facts(request: web.Request) -> web.Response:
    """The conversation's facts, oldest first."""
    asked, held = await _held(request)
    listed = await chat_of(request).facts.facts(held)
    if not listed:  # a conversation holding facts exists: only an empty list costs a second look
        await _require(request, asked, held)
    return json_response({"conversation_id": held, "facts": [fact.to_data() for fact in listed]})


async def remember(request: web.Request) -> web.Response:
    """Keep a fact; 422 when it is empty or too long, 409 when the conversation remembers all it may."""
    asked = path_conversation_id(request)
    body = await read_body(request, FactIn)
    chat = chat_of(request)
    # A REST caller is an operator, not a person of the conversation: the fact has no author.
    fact = await chat.facts.add(await chat.resolve(asked), body.text, None)
    return json_response(fact.to_data(), status=201)


async def forget(request: web.Request) -> web.Response:
    """Remove one fact by its id; 404 when the conversation has no such fact."""
    _, held = await _held(request)
    await chat_of(request).facts.delete(held, request.match_info["fact_id"])
    return web.Response(status=204)


async def summary(request: web.Request) -> web.Response:
    asked, held = await _held(request)
    record = await chat_of(request).facts.summary(held)
    if record is None:
        await _require(request, asked, held)
    return json_response({"conversation_id": held, "summary": record.to_data() if record is not None else None})


def export_name(person: str) -> str:
    """The download's file name; person ids hold only `[A-Za-z0-9._~-]` and one colon, all safe in a header."""
    return f"nono-export-{person.replace(':', '-')}.json"


async def export(request: web.Request) -> web.Response:
    """Everything stored about a person, as a JSON download (the document /export sends)."""
    person = path_person(request, "person_id")
    document = await chat_of(request).personal_data.export(person)
    response = json_response(document)
    response.headers["Content-Disposition"] = f'attachment; filename="{export_name(person)}"'
    return response


async def erase(request: web.Request) -> web.Response:
    """Erase everything stored about a person (/forget_me without the confirmation); what went, in counts."""
    person = path_person(request, "person_id")
    erasure = await chat_of(request).personal_data.erase(person)
    return json_response({"person_id": person, "erased": asdict(erasure)})


_REMEMBER_DESCRIPTION = (
    f'`{{"text": …}}`, at most {MAX_FACT_CHARS} characters, stored as one line without control characters '
    "or chat-template markers; it reaches every prompt of this conversation only, as a note. An empty or too "
    "long fact is a 422, a conversation already holding `MEMORY_MAX_FACTS` facts a 409 (`memory_full`); "
    "nothing is stored then. Facts added over REST have no author."
)
_SUMMARY_DESCRIPTION = (
    "What the conversation said before its window, condensed (`MEMORY_SUMMARY`); `summary` is null when nothing "
    "has been summarized yet, or the summary is being rebuilt."
)
_EXPORT_DESCRIPTION = (
    "The person's private conversation (linked or not) and per-person conversations in groups, whole; in shared "
    "conversations only their own messages and the facts they wrote. The same document `/export` sends."
)
_ERASE_DESCRIPTION = (
    "`/forget_me` without the confirmation: unlinks the person, removes their private and per-person "
    "conversations, and their messages (with the replies to them) and facts in shared ones, whose summaries "
    "are rebuilt."
)
_UNKNOWN = " A conversation where nothing is stored (never used, a mistyped id, or cleared) is a 404."
_FORGET_ADDED = Link(
    "forget_fact", (("conversation_id", "$request.path.conversation_id"), ("fact_id", "$response.body#/id"))
)

_DISPOSITION = (("Content-Disposition", 'attachment; filename="nono-export-<platform>-<id>.json"'),)


def memory_routes() -> list[RouteSpec]:
    """The facts and summary of conversations, and a person's export and erasure."""
    R = RouteSpec
    return [
        R("GET", "/conversations/{conversation_id}/facts", "conversation_facts", facts,
          "The conversation's remembered facts, oldest first", FactsOut, errors=(404, 503), tag="memory",
          description="The numbers /memory shows are positions in this list; ids are stable." + _UNKNOWN),
        R("POST", "/conversations/{conversation_id}/facts", "remember_fact", remember,
          "Remember a fact in the conversation", FactOut, body=FactIn, ok_status=201, errors=(409, 503),
          tag="memory", description=_REMEMBER_DESCRIPTION, links=(_FORGET_ADDED,)),
        R("DELETE", "/conversations/{conversation_id}/facts/{fact_id}", "forget_fact", forget,
          "Forget one of the conversation's facts", None, ok_status=204, errors=(404, 503), tag="memory"),
        R("GET", "/conversations/{conversation_id}/summary", "conversation_summary", summary,
          "The summary of what left the conversation's window", SummaryOut, errors=(404, 503), tag="memory",
          description=_SUMMARY_DESCRIPTION + _UNKNOWN),
        R("GET", "/people/{person_id}/export", "export_person", export, "Everything stored about a person, "
          "as a JSON download", ExportOut, errors=(503,), tag="people", description=_EXPORT_DESCRIPTION,
          ok_headers=_DISPOSITION),
        R("DELETE", "/people/{person_id}", "erase_person", erase, "Erase everything stored about a person",
          ErasedOut, errors=(503,), tag="people", description=_ERASE_DESCRIPTION),
    ]  # fmt: skip
