"""The sidecar's request and response bodies as pydantic models; the OpenAPI document is generated from them.

Request models forbid unknown fields and do not coerce types, so `role`, `system_prompt` or a
number where text belongs is a 422 naming the field, never silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

from nono.adapters.http.ids import WHITESPACE_CLASS, PersonId, RestPerson, UserId
from nono.core.personas import PERSONA_NAME_PATTERN

#: Request bodies (and WebSocket frames) larger than this are refused.
MAX_BODY_BYTES = 64 * 1024
# Text must contain at least one character that is neither whitespace nor NUL (NULs are dropped).
MESSAGE_PATTERN = f"[^{WHITESPACE_CLASS}\\x00]"
#: Validation context key carrying MAX_MESSAGE_CHARS.
MAX_CHARS = "max_message_chars"


def _check_message(value: str, info: ValidationInfo) -> str:
    if not value.replace("\x00", "").strip():
        raise PydanticCustomError("empty_message", "the message is empty")
    limit = (info.context or {}).get(MAX_CHARS)
    if limit is not None and len(value) > limit:
        raise PydanticCustomError("message_too_long", "the message is longer than {limit} characters", {"limit": limit})
    return value


def _integral(value: object) -> object:
    """JSON has one number type: 7.0 is the integer 7 (JSON Schema agrees); 7.5 stays a float and fails."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


MessageText = Annotated[
    str,
    AfterValidator(_check_message),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": MESSAGE_PATTERN, "examples": ["Hello!"]}),
]
PersonaName = Annotated[str, Field(pattern=PERSONA_NAME_PATTERN, examples=["assistant"])]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StartSessionIn(_Strict):
    user_id: UserId
    persona: PersonaName | None = None


class ChatIn(_Strict):
    user_id: RestPerson
    message: MessageText
    persona: PersonaName | None = Field(default=None, description="Switch to this persona first, like PUT …/persona")


class PersonaIn(_Strict):
    persona: PersonaName


class WsChatIn(_Strict):
    """One client frame on /ws/chat/{user_id}."""

    message: MessageText


class LinkIn(_Strict):
    # Its own example: the path's person is discord:1234, and a person linked with themselves is a 422.
    other: PersonId = Field(
        description="The person to link with (an operator's override: no codes, no confirmation)",
        examples=["telegram:5678"],
    )


class TelegramUpdateIn(BaseModel):
    """A Telegram Update, passed on whole to the Telegram adapter."""

    model_config = ConfigDict(extra="allow", strict=True)
    update_id: Annotated[int, BeforeValidator(_integral)] = Field(ge=0)


_JSON_SAFE = 2**53  # larger numbers cannot round-trip through JSON clients; SQLite stops at 2**63


class HistoryQuery(_Strict):
    limit: int = Field(default=20, ge=1, le=100, description="How many messages (newest last)")
    before: int | None = Field(default=None, ge=0, le=_JSON_SAFE, description="Only messages with seq < before")


class ActiveQuery(_Strict):
    offset: int = Field(default=0, ge=0, le=_JSON_SAFE)
    limit: int = Field(default=50, ge=1, le=200)


# -- responses -----------------------------------------------------------------------


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str


class ReadyOut(BaseModel):
    status: Literal["ok", "failing"]
    #: store, llm (every persona has a backend of its chain up), and each running adapter.
    checks: dict[str, Literal["ok", "failing"]]
    #: Each configured model backend on its own: one may fail while another stands in for it.
    backends: dict[str, Literal["ok", "failing"]]


_HELD_IN = "The conversation holding the data (for a linked person's id, their linked private conversation)"


class SessionOut(BaseModel):
    conversation_id: str
    user_id: str = Field(description="Deprecated: conversation_id under its old name, for old clients")
    persona: str
    created_at: float
    last_activity: float
    message_count: int
    metadata: dict[str, Any]


class ChatOut(BaseModel):
    user_id: str = Field(description="The REST person who spoke (rest:<id>)")
    conversation_id: str = Field(description=_HELD_IN)
    reply: str
    persona: str
    incomplete: bool


class MessageOut(BaseModel):
    seq: int
    role: Literal["user", "assistant"]
    content: str
    timestamp: float
    incomplete: bool
    metadata: dict[str, Any]


class HistoryOut(BaseModel):
    conversation_id: str = Field(description=_HELD_IN)
    user_id: str = Field(description="The id as asked (the path's)")
    messages: list[MessageOut]
    next_before: int | None = Field(description="Pass as `before` for the previous page; null at the start")


class ClearOut(BaseModel):
    conversation_id: str = Field(description=_HELD_IN)
    user_id: str = Field(description="The id as asked (the path's)")
    cleared: bool


class PersonaOut(BaseModel):
    name: str
    display_name: str
    description: str
    temperature: float
    max_tokens: int


class PersonasOut(BaseModel):
    default: str
    personas: list[PersonaOut]


class ReloadOut(BaseModel):
    personas: list[str]


class ModelOut(BaseModel):
    name: str
    size: int | None = Field(default=None, description="Bytes on disk; absent when the server does not say")
    context: int | None = Field(default=None, description="Context window in tokens; absent when unknown")


class ModelsOut(BaseModel):
    default: str = Field(description="The default backend (LLM_BACKEND): personas without `backend:` use it")
    models: dict[str, list[ModelOut]] = Field(
        description="Each configured backend's models, by backend name; empty for a backend in `errors`"
    )
    default_models: dict[str, str] = Field(description="The model each backend answers with when a persona names none")
    errors: dict[str, str] = Field(description="Why a backend could not list its models, by backend name")


class ActiveOut(BaseModel):
    sessions: list[SessionOut]
    total: int
    offset: int
    limit: int


class ConversationsOut(BaseModel):
    conversations: list[SessionOut]
    total: int
    offset: int
    limit: int


class PersonOut(BaseModel):
    person_id: str
    linked: list[str] = Field(description="The other people linked with this one (empty when none)")
    conversation_id: str = Field(description="The person's private conversation (the linked one once linked)")


class UnlinkOut(PersonOut):
    unlinked: list[str] = Field(description="Everyone the person was linked with until now")


class WebhookOut(BaseModel):
    ok: bool


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, plus Nono's error `code`."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldProblem] | None = None
    valid: list[str] | None = None


REQUEST_MODELS: tuple[type[BaseModel], ...] = (StartSessionIn, ChatIn, PersonaIn, WsChatIn, LinkIn, TelegramUpdateIn)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    HealthOut, ReadyOut, SessionOut, ChatOut, HistoryOut, ClearOut, PersonasOut, ReloadOut, ModelsOut, ActiveOut,
    ConversationsOut, PersonOut, UnlinkOut, WebhookOut, Problem,
)  # fmt: skip
