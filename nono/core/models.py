"""The data Nono keeps: conversations (their sessions) and their messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Message:
    """One stored message. `seq` is its position in the conversation (0 = oldest), set on read.

    A user message records its speaker (`speaker_id`, a person id, and `speaker_name`); a reply has none.
    """

    role: str
    content: str
    timestamp: float
    metadata: dict[str, Any] = field(default_factory=dict)
    seq: int | None = field(default=None, compare=False)
    speaker_id: str | None = None
    speaker_name: str | None = None

    @property
    def incomplete(self) -> bool:
        return bool(self.metadata.get("incomplete"))

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "role": self.role, "content": self.content, "timestamp": self.timestamp, "metadata": self.metadata,
        }  # fmt: skip
        if self.speaker_id is not None:
            data["speaker"] = {"id": self.speaker_id, "name": self.speaker_name}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_data(cls, data: dict[str, Any], seq: int | None = None) -> Message:
        """A message from what `to_json` wrote, parsed."""
        speaker = data.get("speaker") or {}
        return cls(
            data["role"], data["content"], float(data["timestamp"]), data.get("metadata") or {}, seq,
            speaker.get("id"), speaker.get("name"),
        )  # fmt: skip


@dataclass(frozen=True)
class Session:
    """A conversation's state: which persona speaks, and how active it is."""

    conversation_id: str
    persona: str
    created_at: float
    last_activity: float
    message_count: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        """The conversation's id under its first name (a conversation used to be a user's)."""
        return self.conversation_id


class ActivePage(NamedTuple):
    """One page of the sessions active since some moment, and how many are active in all."""

    sessions: list[Session]
    total: int
