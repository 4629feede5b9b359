"""People over REST: who is linked with whom, and an operator's link or unlink (no codes, no confirmation).

Linking joins the people's private conversations into one (both histories kept, in time order);
unlinking splits it back, each keeping their own turns. The core does both (`chat.links`).
"""

from __future__ import annotations

from aiohttp import web

from nono.adapters.http.errors import HttpProblem
from nono.adapters.http.models import LinkIn, PersonOut, UnlinkOut
from nono.adapters.http.openapi import RouteSpec
from nono.adapters.http.requests import chat_of, path_person, read_body
from nono.adapters.http.responses import json_response
from nono.core.chat import ChatService


async def person(request: web.Request) -> web.Response:
    """Whom a person is linked with, and their private conversation."""
    return json_response(await _person_out(chat_of(request), path_person(request, "person_id")))


async def link(request: web.Request) -> web.Response:
    """Link two people now: their private conversations become one."""
    person_id = path_person(request, "person_id")
    body = await read_body(request, LinkIn)
    chat = chat_of(request)
    await chat.links.join(person_id, body.other)  # linking someone with themselves is a 422 from the core
    return json_response(await _person_out(chat, person_id))


async def unlink(request: web.Request) -> web.Response:
    """Split a person from everyone they are linked with (a person's links are one group); 404 if not with `other`."""
    person_id, other = path_person(request, "person_id"), path_person(request, "other_id")
    chat = chat_of(request)
    linked = await chat.links.linked(person_id)
    # unlink() answering False means someone else unlinked them in the meantime: still "not linked".
    if other == person_id or other not in linked or not await chat.links.unlink(person_id):
        raise HttpProblem(404, "not_linked", f"{person_id} is not linked with {other}.")
    out = await _person_out(chat, person_id)
    return json_response(UnlinkOut(**out.model_dump(), unlinked=[p for p in linked if p != person_id]))


async def _person_out(chat: ChatService, person_id: str) -> PersonOut:
    linked = await chat.links.linked(person_id)
    conversation_id = await chat.links.conversation(person_id)
    others = [p for p in linked if p != person_id]
    return PersonOut(person_id=person_id, linked=others, conversation_id=conversation_id)


_UNLINK_DESCRIPTION = (
    "Splits the person from everyone they are linked with, not only `other_id`: each keeps the turns they "
    "spoke. 404 (`not_linked`) when the person is not linked with `other_id`."
)


def people_routes() -> list[RouteSpec]:
    """The people routes."""
    R = RouteSpec
    return [
        R("GET", "/people/{person_id}", "person", person, "Whom the person is linked with, and their private "
          "conversation", PersonOut, errors=(503,), tag="people"),
        R("POST", "/people/{person_id}/link", "link_person", link, "Link two people (an operator's override)",
          PersonOut, body=LinkIn, errors=(503,), tag="people", links=("conversation_history",)),
        R("DELETE", "/people/{person_id}/link/{other_id}", "unlink_person", unlink, "Unlink a person",
          UnlinkOut, errors=(404, 503), tag="people", description=_UNLINK_DESCRIPTION),
    ]  # fmt: skip
