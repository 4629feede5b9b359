"""Conversations over REST: the canonical `/conversations/…` routes, the old session routes as aliases, and /chat.

A conversation id in a path may be any stored id (`discord:1234`, `telegram:chat:-100:person:5`…);
a linked person's id names their linked private conversation, and responses say which one in
`conversation_id`. Chatting is different: a REST caller always speaks as a REST person
(`rest:<id>`), in that person's private conversation.
"""

from __future__ import annotations

from aiohttp import web

from nono.adapters.http.errors import HttpProblem
from nono.adapters.http.ids import REST_PERSON_SCHEMA, rest_speaker
from nono.adapters.http.models import (
    ActiveOut,
    ActiveQuery,
    ChatIn,
    ChatOut,
    ClearOut,
    ConversationsOut,
    HistoryOut,
    HistoryQuery,
    PersonaIn,
    SessionOut,
    StartSessionIn,
)  # fmt: skip
from nono.adapters.http.openapi import RouteSpec
from nono.adapters.http.requests import chat_of, path_conversation_id, read_body, read_query
from nono.adapters.http.responses import json_response, message_out, session_model, session_out
from nono.adapters.http.ws import WS_DESCRIPTION, ws_chat
from nono.core.chat import ChatService
from nono.core.people import Conversation


async def start_session(request: web.Request) -> web.Response:
    body = await read_body(request, StartSessionIn)
    return json_response(session_model(await chat_of(request).start_session(body.user_id, body.persona)))


async def chat_turn(request: web.Request) -> web.Response:
    """A whole turn of a REST person; a given persona is switched to first, exactly like PUT …/persona.

    The switch waits until the turn is admitted (input, line, rate limit): a refused request changes nothing.
    """
    body = await read_body(request, ChatIn)  # its user_id is already the REST person, rest:<id>
    chat = chat_of(request)
    if body.persona is not None:
        chat.personas.get(body.persona)  # an unknown persona is a 404 before the turn counts against any limit
    conversation = Conversation.private_of(body.user_id)
    reply = chat.stream(conversation, body.message, speaker=rest_speaker(body.user_id))
    async with reply:
        if body.persona is not None and await reply.admitted():
            await chat.set_persona(conversation, body.persona)
        async for _ in reply:  # a refused turn raises its refusal here, and is counted like any failed turn
            pass
    assert reply.persona is not None  # set by every finished turn
    out = ChatOut(
        user_id=body.user_id, conversation_id=reply.conversation_id, reply=reply.text,
        persona=reply.persona.name, incomplete=reply.incomplete,
    )  # fmt: skip
    return json_response(out)


async def conversation_history(request: web.Request) -> web.Response:
    """A page of the conversation's messages; 404 when there is no such conversation (a mistyped id, or cleared)."""
    return await _history(request, missing_is_404=True)


async def history(request: web.Request) -> web.Response:
    """The old session route: an unknown id is an empty history, as it always was."""
    return await _history(request, missing_is_404=False)


async def _history(request: web.Request, *, missing_is_404: bool) -> web.Response:
    asked, query = path_conversation_id(request), read_query(request, HistoryQuery)
    chat = chat_of(request)
    held_in = await chat.resolve(asked)
    # Resolved once, since the answer names it; the conversation found is then read as it is.
    held = Conversation(held_in)
    messages = await chat.history(held, query.limit, query.before)
    # Only an empty page costs a second look, so reading a conversation stays one store read (bench P7).
    if not messages and missing_is_404 and not await conversation_exists(chat, held):
        raise unknown_conversation(asked)
    next_before = messages[0].seq if messages and messages[0].seq else None
    listed = [message_out(m) for m in messages]
    return json_response({"conversation_id": held_in, "user_id": asked, "messages": listed, "next_before": next_before})


async def conversation_exists(chat: ChatService, conversation: Conversation) -> bool:
    """Whether anything is stored in the conversation (a session or a message)."""
    return await chat.session(conversation) is not None or bool(await chat.history(conversation, 1))


def unknown_conversation(asked: str) -> HttpProblem:
    """The 404 of a conversation where nothing is stored: never used, a mistyped id, or cleared."""
    return HttpProblem(404, "unknown_conversation", f"There is no conversation {asked!r}: nothing is stored there.")


async def clear(request: web.Request) -> web.Response:
    asked = path_conversation_id(request)
    chat = chat_of(request)
    held_in = await chat.resolve(asked)
    # The operator manages every conversation, shared ones included.
    cleared = await chat.reset(Conversation(held_in), manager=True)
    return json_response(ClearOut(conversation_id=held_in, user_id=asked, cleared=cleared))


async def set_persona(request: web.Request) -> web.Response:
    asked = path_conversation_id(request)
    body = await read_body(request, PersonaIn)
    chat = chat_of(request)
    await chat.set_persona(asked, body.persona, manager=True)
    session = await chat.session(asked)
    assert session is not None  # set_persona creates it
    return json_response(session_model(session))


async def conversations(request: web.Request) -> web.Response:
    listed, total, query = await _active(request)
    return json_response({"conversations": listed, "total": total, "offset": query.offset, "limit": query.limit})


async def active_sessions(request: web.Request) -> web.Response:
    listed, total, query = await _active(request)
    return json_response({"sessions": listed, "total": total, "offset": query.offset, "limit": query.limit})


async def _active(request: web.Request) -> tuple[list[dict], int, ActiveQuery]:
    query = read_query(request, ActiveQuery)
    sessions, total = await chat_of(request).active_page(query.offset, query.limit)
    return [session_out(s) for s in sessions], total, query


def _alias(canonical: str) -> str:
    return f"Alias of `{canonical}`, kept for old clients: the path's `user_id` is the conversation id."


_HISTORY_DESCRIPTION = (
    "`?limit=` and `?before=` page backwards like the old session route. A conversation with no messages and "
    "no session (never used, or cleared) is a 404 `unknown_conversation`; the old route answers an empty page."
)


#: What a conversation's id in a response leads to.
_CONVERSATION_OPERATIONS = ("conversation_history", "clear_conversation", "set_conversation_persona")
_HISTORY = "GET /conversations/{conversation_id}/history"
_CLEAR = "DELETE /conversations/{conversation_id}"
_PERSONA = "PUT /conversations/{conversation_id}/persona"
_START_DESCRIPTION = (
    "Kept from the session API. `user_id` is any conversation id; "
    "`PUT /conversations/{conversation_id}/persona` also creates the session."
)
_CHAT_DESCRIPTION = (
    "`user_id` is the REST person speaking: `rest:<id>`, or just `<id>` (`alice` is `rest:alice`). "
    "The turn runs in that person's private conversation (`conversation_id` in the answer)."
)


def conversation_routes() -> list[RouteSpec]:
    """The conversation routes, canonical first, then the aliases kept from the session API."""
    R = RouteSpec
    return [
        R("GET", "/conversations", "conversations", conversations, "Active conversations, most recent first",
          ConversationsOut, query=ActiveQuery, errors=(503,), tag="conversations"),
        R("GET", "/conversations/{conversation_id}/history", "conversation_history", conversation_history,
          "A page of the conversation's messages, newest last", HistoryOut, query=HistoryQuery, errors=(404, 503),
          tag="conversations", description=_HISTORY_DESCRIPTION),
        R("DELETE", "/conversations/{conversation_id}", "clear_conversation", clear,
          "Forget the conversation's memory and persona choice", ClearOut, errors=(503,), tag="conversations"),
        R("PUT", "/conversations/{conversation_id}/persona", "set_conversation_persona", set_persona,
          "Switch the conversation's persona", SessionOut, body=PersonaIn, errors=(404, 503), tag="conversations"),
        R("POST", "/chat", "chat", chat_turn, "Run a whole turn of a REST person and return the reply", ChatOut,
          body=ChatIn, errors=(404, 429, 503), tag="chat", description=_CHAT_DESCRIPTION,
          links=_CONVERSATION_OPERATIONS),
        R("GET", "/ws/chat/{user_id}", "ws_chat", ws_chat, "Chat as a REST person over a WebSocket, streamed", None,
          ok_status=101, errors=(426,), tag="chat", description=WS_DESCRIPTION,
          path_schemas=(("user_id", REST_PERSON_SCHEMA),)),
        R("POST", "/session/start", "start_session", start_session, "Start or refresh a session", SessionOut,
          body=StartSessionIn, errors=(404, 503), tag="sessions", description=_START_DESCRIPTION,
          links=_CONVERSATION_OPERATIONS),
        R("GET", "/session/{user_id}/history", "history", history, f"Alias of {_HISTORY}", HistoryOut,
          query=HistoryQuery, errors=(503,), tag="sessions", deprecated=True,
          description=_alias(_HISTORY) + " An unknown conversation is an empty page here, not a 404."),
        R("DELETE", "/session/{user_id}/clear", "clear", clear, f"Alias of {_CLEAR}", ClearOut, errors=(503,),
          tag="sessions", description=_alias(_CLEAR), deprecated=True),
        R("PUT", "/session/{user_id}/persona", "set_persona", set_persona, f"Alias of {_PERSONA}", SessionOut,
          body=PersonaIn, errors=(404, 503), tag="sessions", description=_alias(_PERSONA), deprecated=True),
        R("GET", "/sessions/active", "active_sessions", active_sessions, "Alias of GET /conversations",
          ActiveOut, query=ActiveQuery, errors=(503,), tag="sessions", deprecated=True,
          description="Alias of `GET /conversations`, kept for old clients: the list is named `sessions`."),
    ]  # fmt: skip
