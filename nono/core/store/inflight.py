"""Replies in flight: the record a turn leaves in the store while it is generated and delivered.

A reply an adapter shows on a platform is recorded before its generation starts (in the same
step as the turn's read), with where it is shown and the process that owns it; each new platform
message adds its id; storing the turn (after the platform accepted the final text) removes the
record, in the same step. A record whose owner's lease ran out belongs to a process that died:
another process (or the same one, restarted) claims it, tells the user, and stores the turn as
incomplete. Owners renew their lease in one write per interval for all their turns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from nono.core.errors import NonoError
from nono.core.models import Message


@dataclass(frozen=True)
class Progress:
    """What the platform shows of a reply: its message ids (oldest first) and the text written so far."""

    message_ids: tuple[str, ...] = ()
    text: str = ""

    def to_data(self) -> dict[str, Any]:
        return {"message_ids": list(self.message_ids), "text": self.text}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Progress:
        return cls(tuple(str(item) for item in data.get("message_ids", ())), str(data.get("text", "")))


@dataclass(frozen=True)
class InFlight:
    """A reply being generated or delivered.

    `place` is the adapter's own note of where the reply is shown (chat, thread, the message it
    answers), enough to reach the user again after a restart. `question` is the user's message,
    stored with whatever the reply had reached if the turn has to be resolved.
    """

    turn_id: str
    conversation_id: str
    platform: str
    place: Mapping[str, Any]
    question: Message
    owner: str
    started_at: float
    progress: Progress = field(default_factory=Progress)

    def to_data(self) -> dict[str, Any]:
        """The immutable part (progress and owner are kept beside it, as they change)."""
        return {
            "turn_id": self.turn_id, "conversation_id": self.conversation_id, "platform": self.platform,
            "place": dict(self.place), "started_at": self.started_at,
            "question": json.loads(self.question.to_json()),
        }  # fmt: skip

    @classmethod
    def from_data(cls, data: Mapping[str, Any], owner: str, progress: Progress) -> InFlight:
        question = Message.from_data(dict(data["question"]))
        return cls(
            str(data["turn_id"]), str(data["conversation_id"]), str(data["platform"]), dict(data["place"]), question,
            owner, float(data["started_at"]), progress,
        )  # fmt: skip


class Settles(NamedTuple):
    """The reply in flight a turn's write settles: stored only while `owner` still owns its record."""

    turn_id: str
    owner: str


class ReplyTakenOver(NonoError):
    """The settling write found the record gone or owned by another process: it resolved this reply
    (this process stalled past its lease), so the turn was not stored a second time."""


class Lease(NamedTuple):
    """Who owns the in-flight turns written with it, and until when (unless renewed)."""

    owner: str
    until: float


class Orphan(NamedTuple):
    """An in-flight record and how long its owner's lease runs (0 when the owner never wrote one)."""

    record: InFlight
    lease_until: float


class InFlightStore(Protocol):
    """The verbs beyond a turn's own read and write (`load_context(begin=)` and `append_turn(settles=)`)."""

    async def keep_alive(self, lease: Lease, progress: Mapping[str, Progress]) -> None:
        """Extend the owner's lease and record the progress of some of its turns (by turn id), in one step."""

    async def records(self) -> list[Orphan]:
        """Every in-flight record with its owner's lease."""

    async def claim(self, turn_id: str, expected_owner: str, lease: Lease) -> bool:
        """Make `lease.owner` the record's owner if it is still `expected_owner`; False otherwise (taken, gone)."""

    async def settle(self, turn_id: str) -> None:
        """Remove the record without storing a turn (the generation failed: nothing to keep)."""
