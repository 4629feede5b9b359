"""The data Nono keeps: sessions and the messages of a conversation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

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
    def from_json(cls, raw: str | bytes, seq: int | None = None) -> Message:
        data = json.loads(raw)
        return cls(data["role"], data["content"], float(data["timestamp"]), data.get("metadata") or {}, seq)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (`metadata` copied one level deep)."""
        return _shallow(self)


@dataclass(frozen=True)
class Session:
    """Per-user state: which persona speaks, and how active the conversation is."""

    user_id: str
    persona: str
    created_at: float
    last_activity: float
    message_count: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (`metadata` copied one level deep)."""
        return _shallow(self)


def _shallow(obj: Message | Session) -> dict[str, Any]:
    # dataclasses.asdict deep-copies recursively: it was most of the sidecar's cost per listed
    # message or session (found by bench P7). Metadata is copied so callers cannot change ours.
    data = {f.name: getattr(obj, f.name) for f in fields(obj)}
    data["metadata"] = dict(data["metadata"])
    return data
