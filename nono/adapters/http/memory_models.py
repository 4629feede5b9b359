"""The bodies of the memory routes: remembered facts, the summary, a person's export and erasure.

The export models restate the core's export document (`PersonalData.export`) for the OpenAPI
document; they forbid unknown keys, so a test notices when the two drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from nono.adapters.http.ids import WHITESPACE_CLASS
from nono.core.errors import InvalidInput
from nono.core.remembering import MAX_FACT_CHARS, clean_fact

#: The JSON Schema `format` naming the core's fact rule: something left once control characters,
#: whitespace and chat-template markers are removed (beyond what a regular expression can say).
FACT_FORMAT = "nono-fact"
#: A fact holds at least one character that is neither whitespace nor a control character;
#: FACT_FORMAT says the rest.
FACT_PATTERN = f"[^{WHITESPACE_CLASS}\\x00-\\x1f\\x7f-\\x9f]"


def _check_fact(value: str) -> str:
    # The limit counts what was sent, so the schema's maxLength means what the route does (the core,
    # which counts the cleaned text, can then never refuse it for its length).
    if len(value) > MAX_FACT_CHARS:
        raise PydanticCustomError(
            "fact_too_long", "a fact can be at most {limit} characters long (this one has {length})",
            {"limit": MAX_FACT_CHARS, "length": len(value)},
        )  # fmt: skip
    try:
        clean_fact(value)
    except InvalidInput:  # within the limit, the only refusal left is an empty fact
        raise PydanticCustomError(
            "empty_fact", "the fact is empty once control characters and chat-template markers are removed"
        ) from None
    return value  # the core cleans it when storing


FactText = Annotated[
    str,
    AfterValidator(_check_fact),
    WithJsonSchema({
        "type": "string", "minLength": 1, "maxLength": MAX_FACT_CHARS, "pattern": FACT_PATTERN,
        "format": FACT_FORMAT, "examples": ["Prefers short answers."],
    }),
]  # fmt: skip


class _Closed(BaseModel):
    """A response whose keys are all listed (additionalProperties: false)."""

    model_config = ConfigDict(extra="forbid")


class FactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    text: FactText = Field(description="Stored as one line, without control characters or chat-template markers")


class FactOut(_Closed):
    id: str = Field(description="Stable; the numbers /memory shows are positions, oldest first")
    text: str
    created_at: float
    author: str | None = Field(description="The person who asked to remember it; null when added over REST")


class FactsOut(BaseModel):
    conversation_id: str = Field(description="The conversation holding the facts (a linked person's: the linked one)")
    facts: list[FactOut] = Field(description="Oldest first")


class SummaryDataOut(_Closed):
    text: str
    covers: int = Field(description="The summary covers every message with `seq <= covers`")
    model: str
    created_at: float
    revision: int


class SummaryOut(BaseModel):
    conversation_id: str = Field(description="The conversation summarized (a linked person's: the linked one)")
    summary: SummaryDataOut | None = Field(description="null when nothing has been summarized")


class ErasureOut(BaseModel):
    conversations: int = Field(description="Private and per-person conversations removed whole")
    messages: int
    facts: int
    summaries: int
    links: int


class ErasedOut(BaseModel):
    person_id: str
    erased: ErasureOut


# -- the export document -----------------------------------------------------------------


class ExportSpeaker(_Closed):
    id: str
    name: str | None


class ExportMessage(_Closed):
    seq: int | None
    role: str
    content: str
    timestamp: float
    speaker: ExportSpeaker | None = Field(default=None, description="Who spoke a user message; absent on replies")
    metadata: dict[str, Any] | None = Field(default=None, description="Absent when empty")


class ExportConversation(_Closed):
    id: str
    kind: Literal["private", "per-person", "shared"] = Field(
        description="A shared conversation holds only the person's own messages and the facts they wrote"
    )
    persona: str | None
    created_at: float | None
    last_activity: float | None
    messages: list[ExportMessage]
    facts: list[FactOut]
    summary: SummaryDataOut | None


class ExportOut(_Closed):
    format: str = Field(examples=["nono-export/1"])
    person: str
    exported_at: str = Field(description="ISO 8601, UTC")
    linked_accounts: list[str]
    conversations: list[ExportConversation]


MEMORY_REQUEST_MODELS: tuple[type[BaseModel], ...] = (FactIn,)
MEMORY_RESPONSE_MODELS: tuple[type[BaseModel], ...] = (FactOut, FactsOut, SummaryOut, ErasedOut, ExportOut)
