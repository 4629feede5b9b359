"""Chat over a WebSocket as a REST person: each `{"message": …}` frame is a turn, streamed back as chunk frames.

The auth middleware has already run when this handler starts, so a socket is only accepted for
an authorized caller. Errors become `{"type": "error"}` frames here (one place for this
transport) and the socket stays open for the next message.
"""

from __future__ import annotations

import asyncio
import logging
from weakref import WeakSet

from aiohttp import WSCloseCode, WSMsgType, web

from nono.adapters.http.errors import INTERNAL_DETAIL, HttpProblem
from nono.adapters.http.ids import rest_person, rest_speaker
from nono.adapters.http.models import MAX_BODY_BYTES, WsChatIn
from nono.adapters.http.requests import SOCKETS, chat_of, parse_frame, validation_context
from nono.core.chat import ChatService
from nono.core.errors import UserFacingError
from nono.core.people import Conversation

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0
#: Frames read ahead while a turn streams; past this, reading pauses (TCP backpressure).
INBOX_SIZE = 16

WS_DESCRIPTION = """\
A WebSocket (authenticated like every admin route, before the handshake is accepted). `user_id` is the
REST person speaking, `rest:<id>` or just `<id>`, like POST /chat's; turns run in their private conversation.
Send text frames `{"message": "..."}`; the server answers each with `{"type": "chunk", "text": "..."}`
frames, then `{"type": "done", "reply": "...", "persona": "...", "incomplete": false, "conversation_id": "..."}`.
Errors arrive as `{"type": "error", "code": "...", "status": 422, "message": "..."}` and the socket
stays open. Frames over 64 KiB close the socket with code 1009. A plain GET gets 426."""


async def ws_chat(request: web.Request) -> web.StreamResponse:
    """Accept the socket (after validating the REST person) and answer each message frame in order."""
    person = rest_person(request.match_info["user_id"])  # an invalid id is a 422 before the handshake
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=MAX_BODY_BYTES)
    if not ws.can_prepare(request).ok:
        raise HttpProblem(
            426, "upgrade_required", "This route speaks WebSocket only.", headers={"Upgrade": "websocket"}
        )
    await ws.prepare(request)
    sockets = request.app[SOCKETS]
    sockets.add(ws)
    inbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=INBOX_SIZE)
    chat, context = chat_of(request), validation_context(request)
    worker = asyncio.create_task(_answer_all(ws, chat, person, inbox, context))
    try:
        # Keep reading while a turn streams, so a client that leaves is noticed at once.
        async for msg in ws:
            await inbox.put(msg.data if msg.type == WSMsgType.TEXT else None)
    finally:
        sockets.discard(ws)
        worker.cancel()  # a turn in progress stores its part, marked incomplete
        await asyncio.wait([worker])
        if not worker.cancelled() and worker.exception() is not None:
            log.error("ws_worker_failed", exc_info=worker.exception())
    return ws


async def _answer_all(
    ws: web.WebSocketResponse, chat: ChatService, person: str, inbox: asyncio.Queue[str | None], context: dict
) -> None:
    try:
        while True:
            text = await inbox.get()
            if text is None:
                await _send_error(ws, 400, "bad_frame", 'Send JSON text frames like {"message": "Hello"}.')
            else:
                await _answer(ws, chat, person, text, context)
    except ConnectionResetError:  # the client vanished without a close frame
        log.info("ws_client_gone", extra={"person": person})
        await ws.close()


async def _answer(ws: web.WebSocketResponse, chat: ChatService, person: str, text: str, context: dict) -> None:
    try:
        frame = parse_frame(text, WsChatIn, context)
    except HttpProblem as exc:
        await _send_error(ws, exc.status, exc.code, exc.detail, errors=exc.extra.get("errors"))
        return
    reply = chat.stream(Conversation.private_of(person), frame.message, speaker=rest_speaker(person))
    try:
        async with reply:
            async for chunk in reply:
                await ws.send_json({"type": "chunk", "text": chunk})
    except UserFacingError as exc:
        await _send_error(ws, exc.status, exc.code, str(exc))
        return
    except ConnectionResetError:
        raise
    except Exception:
        log.exception("ws_turn_failed", extra={"person": person})
        await _send_error(ws, 500, "internal", INTERNAL_DETAIL)
        return
    persona = reply.persona.name if reply.persona is not None else None
    done = {
        "type": "done",
        "reply": reply.text,
        "persona": persona,
        "incomplete": reply.incomplete,
        "conversation_id": reply.conversation_id,
    }
    await ws.send_json(done)


async def _send_error(ws: web.WebSocketResponse, status: int, code: str, message: str, **extra: object) -> None:
    frame = {"type": "error", "status": status, "code": code, "message": message}
    frame.update({k: v for k, v in extra.items() if v is not None})
    await ws.send_json(frame)


async def close_sockets(app: web.Application) -> None:
    """on_shutdown: tell WebSocket clients we are going away instead of cutting them off."""
    sockets: WeakSet[web.WebSocketResponse] = app[SOCKETS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
