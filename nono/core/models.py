"""The data Nono keeps: sessions and the messages of a conversation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

ROLES = ("user", "assistant")


@dataclass(frozen=True)
class Message:
    """One stored message. `seq` is its position in the user's history (0 = oldest), set on read."""

    role: str
    content: str
    timestamp: float
    metadata: dict[str, Any] = field(default_factory=dict)
    seq: int | None = field(default=None, compare=False)

    @property
    def incomplete(self) -> bool:
        return bool(self.metadata.get("incomplete"))

    def to_json(self) -> str:
        data = {"role": self.role, "content": self.content, "timestamp": self.timestamp, "metadata": self.metadata}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_data(cls, data: dict[str, Any], seq: int | None = None) -> Message:
        """A message from what `to_json` wrote, parsed."""
        return cls(data["role"], data["content"], float(data["timestamp"]), data.get("metadata") or {}, seq)


@dataclass(frozen=True)
class Session:
    """Per-user state: which persona speaks, and how active the conversation is."""

    user_id: str
    persona: str
    created_at: float
    last_activity: float
    message_count: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


class ActivePage(NamedTuple):
    """One page of the sessions active since some moment, and how many are active in all."""

    sessions: list[Session]
    total: int
