"""The storage seam: a handful of async verbs with one error contract.

Every backend raises `StoreUnavailable` (and only that) when its server or file cannot be
reached, so the core has one thing to catch. Backends receive validated conversation ids and
plain values; they never decide policy (windows, timeouts, who may link) beyond what they are given.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

from nono.core.errors import ConfigError
from nono.core.models import ActivePage, Message, Session
from nono.core.store.duties import Duties
from nono.core.store.inflight import InFlight, InFlightStore, Settles
from nono.core.store.leads import Leads
from nono.core.store.lines import Fence, SeatRequest, SharedLines, Waiting

#: The layout this code reads and writes. 0: one session per user id (before conversations and links);
#: 1: conversations, speakers, links; 2: summaries and remembered facts; 3: replies in flight.
SCHEMA_VERSION = 3


class SchemaTooNew(ConfigError):
    """The store was written by a newer Nono; refusing it is safer than guessing its layout."""

    def __init__(self, where: str, found: int) -> None:
        super().__init__(
            f"{where} holds data in schema version {found}, but this Nono only knows versions up to {SCHEMA_VERSION}. "
            "Run the newer Nono that wrote it, or point this one at another store."
        )


@dataclass(frozen=True)
class Summary:
    """What a conversation said before its window, condensed: it covers every message with `seq <= covers`.

    `revision` counts the writes and drops of the conversation's summary; a background job writes
    only over the revision it read, so a reset or an erasure in between is never overwritten.
    A dropped summary (its messages were rewritten) has `covers` -1 and no text.
    """

    text: str
    covers: int
    model: str
    created_at: float
    revision: int = 0

    @property
    def dropped(self) -> bool:
        return self.covers < 0

    def to_data(self) -> dict[str, Any]:
        return {
            "text": self.text, "covers": self.covers, "model": self.model, "created_at": self.created_at,
            "revision": self.revision,
        }  # fmt: skip

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Summary:
        return cls(
            str(data["text"]), int(data["covers"]), str(data["model"]), float(data["created_at"]),
            int(data.get("revision", 0)),
        )  # fmt: skip


@dataclass(frozen=True)
class Fact:
    """A note someone asked Nono to remember in a conversation; `id` is stable, `author` a person id."""

    id: str
    text: str
    created_at: float
    author: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "created_at": self.created_at, "author": self.author}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Fact:
        author = data.get("author")
        return cls(
            str(data["id"]), str(data["text"]), float(data["created_at"]), None if author is None else str(author)
        )


class Erased(NamedTuple):
    """What erasing one person from a conversation removed."""

    messages: int
    facts: int


class Context(NamedTuple):
    """What a turn reads: the session, the newest messages (oldest first), the conversation they belong to,
    its summary (None when there is none or it was dropped) and its remembered facts (oldest first).

    `conversation_id` differs from the id asked for when a person's private conversation is linked.
    """

    session: Session | None
    messages: list[Message]
    conversation_id: str
    summary: Summary | None = None
    facts: tuple[Fact, ...] = ()
    #: The head of the conversation's shared line this turn holds (None without shared lines).
    fence: Fence | None = None


@dataclass(frozen=True)
class PersonRecord:
    """A linked person: their private conversation, and everyone linked with them (themselves included)."""

    person: str
    conversation: str
    people: tuple[str, ...]


@dataclass
class Rewrite:
    """A change to several conversations and people at once (a link or an unlink).

    `conversations` maps an id to its new whole state, or None to delete it (with its summary and
    facts); a rewritten conversation's summary is dropped (its seqs changed). `facts` replaces the
    facts of the conversations it names. `people` maps a person to their record, or None when they
    are no longer linked. SQLite applies it in one transaction; Redis per key slot, conversations
    first, so a crash half-way may duplicate but never lose messages.
    """

    conversations: dict[str, tuple[Session, list[Message]] | None] = field(default_factory=dict)
    people: dict[str, PersonRecord | None] = field(default_factory=dict)
    facts: dict[str, list[Fact]] = field(default_factory=dict)


@runtime_checkable
class Store(Protocol):
    """Persistent conversations, their histories, person links and one-time tokens."""

    async def migrate(self) -> int:
        """Bring the stored data to SCHEMA_VERSION (idempotent); the version found. Raises SchemaTooNew."""

    @property
    def inflight(self) -> InFlightStore:
        """Replies in flight: leases, progress, and the sweep after a crash."""

    @property
    def duties(self) -> Duties:
        """Short claims on background duties (a conversation's summary): one holder across processes."""

    @property
    def leads(self) -> Leads:
        """Leader leases: which process does a duty that must run once (Telegram polling)."""

    @property
    def lines(self) -> SharedLines | None:
        """The conversations' lines shared by every process on this store; None when one process uses it."""

    async def load_context(
        self, conversation_id: str, limit: int, begin: InFlight | None = None, lease_until: float = 0.0,
        seat: SeatRequest | None = None,
    ) -> Context | Waiting:  # fmt: skip
        """The session, the newest `limit` messages, the summary and the facts, following a person's link.

        One read: a turn costs one round trip here however much it remembers. With `begin`, the same
        step records that reply in flight (for the conversation the link led to) and extends its
        owner's lease to `lease_until`. With `seat` (only a store with `lines`), the same step takes
        the seat (and admits it, raising RateLimited or Busy) and reads only when the seat is at the
        head; otherwise it returns Waiting. SeatLost when a seat not entering is no longer in line.
        """

    async def get_session(self, conversation_id: str) -> Session | None:
        """The conversation's session, or None when there is none (never created, reset, or expired)."""

    async def set_persona(self, conversation_id: str, persona: str, now: float) -> Session:
        """Create the session if needed and set its persona; counts as activity."""

    async def touch(
        self, conversation_id: str, persona: str, now: float, metadata: dict[str, Any] | None = None
    ) -> Session:
        """Create the session with `persona` if it does not exist, else mark it active (persona unchanged).

        `metadata`, when given, is merged into the session's metadata.
        """

    async def append_turn(
        self, conversation_id: str, persona: str, messages: list[Message], now: float,
        settles: Settles | None = None, fence: Fence | None = None,
    ) -> Session:  # fmt: skip
        """Atomically append `messages` and update the session (created with `persona` if missing).

        Either every message is stored and the counters updated, or nothing is. `settles` names a
        reply in flight whose record goes in the same step; if its record is gone or has another
        owner, nothing is stored and ReplyTakenOver is raised. `fence` (the head of the shared line
        the turn held) frees the head in the same step; if it is no longer the head's, nothing is
        stored and StaleFence is raised.
        """

    async def history(self, conversation_id: str, limit: int, before: int | None = None) -> list[Message]:
        """Up to `limit` messages with `seq < before` (all when None), newest last, each with `seq` set."""

    async def clear(self, conversation_id: str) -> bool:
        """Forget the conversation's session, history, summary and facts; True if there was anything to forget."""

    # -- long-term memory: summaries and facts expire with their conversation (HISTORY_TTL) --

    async def get_summary(self, conversation_id: str) -> Summary | None:
        """The conversation's summary record (a dropped one included), or None when none was ever written."""

    async def put_summary(self, conversation_id: str, summary: Summary, *, revision: int, epoch: float) -> bool:
        """Store `summary` with revision `revision + 1`, only if the stored record's revision is `revision`
        (0 when there is none) and the conversation's session exists with `created_at == epoch`.

        False, changing nothing, otherwise: the history it summarized was reset or rewritten meanwhile.
        """

    async def facts(self, conversation_id: str) -> list[Fact]:
        """The conversation's facts, oldest first."""

    async def add_fact(self, conversation_id: str, fact: Fact, persona: str, now: float, max_facts: int) -> bool:
        """Append `fact` unless the conversation already holds `max_facts`; False (nothing changed) if it does.

        Creates the session with `persona` when missing; counts as activity (refreshes HISTORY_TTL).
        """

    async def delete_facts(self, conversation_id: str, ids: Collection[str] | None = None) -> int:
        """Remove the facts with these ids (every fact when None); how many were removed."""

    async def conversations_of(self, person: str) -> list[str]:
        """Every conversation holding something of `person`, sorted: their private one (id == person),
        their per-person group conversations (`<platform>:…:person:<user>`, same platform), and any
        conversation with a user message they spoke or a fact they wrote."""

    async def erase_speaker(self, conversation_id: str, person: str) -> Erased:
        """Remove every turn `person` spoke (their message and the replies up to the next user message)
        and every fact they wrote, renumbering the rest; when a message went, the summary is dropped.

        Atomic per conversation; the session's message count follows.
        """

    async def active_page(self, since: float, offset: int = 0, limit: int = 50) -> ActivePage:
        """Sessions active at or after `since`, most recent first, and how many there are in all.

        The page and the total come from one read (one snapshot, one round trip).
        """

    async def count_active(self, since: float) -> int:
        """How many sessions were active at or after `since`."""

    async def person(self, person: str) -> PersonRecord | None:
        """The person's link record, or None when they are linked with nobody."""

    async def rewrite(self, change: Rewrite, now: float) -> None:
        """Apply a link or unlink: whole conversations replaced or deleted, person records set or removed."""

    async def put_token(self, key: str, value: str, expires_at: float) -> None:
        """Keep `value` under `key` until `expires_at` (link codes, proposals); replaces an older one."""

    async def take_token(self, key: str, now: float) -> str | None:
        """The value under `key` if it has not expired, deleted in the same step (single use)."""

    async def get_token(self, key: str, now: float) -> str | None:
        """The value under `key` if it has not expired, left in place."""

    async def first_sighting(self, event: str, ttl: float) -> bool:
        """True if platform event `event` was not seen within the last `ttl` seconds (and records it now),
        False for a replay. Atomic: of concurrent sightings, in any process on the store, one is first."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the backend answers."""

    async def durability_warnings(self) -> list[str]:
        """Settings of the backend that could lose acknowledged turns (eviction, no persistence)."""

    async def aclose(self) -> None:
        """Release connections and files."""


def legacy_speaker(conversation_id: str, metadata: Mapping[str, Any]) -> str | None:
    """Who said a user message stored before speakers were recorded (schema 0), when it can be told.

    A person's own conversation (`discord:1`) was theirs; a shared channel or group kept the
    author's id in the message's metadata.
    """
    platform, _, rest = conversation_id.partition(":")
    if rest.startswith("channel:") and metadata.get("discord_author_id"):
        return f"discord:{metadata['discord_author_id']}"
    if rest.startswith("chat:") and metadata.get("from_id") is not None:
        return f"telegram:{metadata['from_id']}"
    if ":" not in rest and platform in ("discord", "telegram", "terminal", "rest"):
        return conversation_id
    return None
