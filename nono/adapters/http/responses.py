"""Writing responses: JSON bodies, fast, and the session and message shapes the list endpoints share."""

from __future__ import annotations

import json
from typing import Any

import pydantic_core
from aiohttp import web
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from nono.adapters.http.models import SessionOut
from nono.core.models import Message, Session


def json_response(data: BaseModel | dict[str, Any], status: int = 200) -> web.Response:
    """`data` as a JSON response."""
    # pydantic's serializer is several times faster than json.dumps over model_dump (bench P7),
    # but UTF-8 cannot carry a lone surrogate, which stored text may hold: those get escapes instead.
    try:
        body = pydantic_core.to_json(data)
    except PydanticSerializationError:
        body = json.dumps(pydantic_core.to_jsonable_python(data)).encode()
    return web.Response(body=body, status=status, content_type="application/json")


def session_model(session: Session) -> SessionOut:
    """One session as its response model."""
    return SessionOut.model_validate(session, from_attributes=True)


# The two list endpoints build SessionOut's and MessageOut's fields as plain dicts: validating
# 50 to 200 objects per page against the models (which only restate what the store returned)
# cost more than the store read itself (bench P7). A test holds these to the models.
def session_out(session: Session) -> dict[str, Any]:
    """SessionOut's fields as a dict."""
    s = session
    return {"conversation_id": s.conversation_id, "user_id": s.conversation_id, "persona": s.persona,
            "created_at": s.created_at, "last_activity": s.last_activity, "message_count": s.message_count,
            "metadata": s.metadata}  # fmt: skip


def message_out(message: Message) -> dict[str, Any]:
    """MessageOut's fields as a dict."""
    m = message
    return {"seq": m.seq, "role": m.role, "content": m.content, "timestamp": m.timestamp,
            "incomplete": m.incomplete, "metadata": m.metadata}  # fmt: skip
