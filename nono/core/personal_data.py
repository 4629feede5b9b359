"""A person's data, GDPR-style: export everything stored about them, or erase all of it (/export, /forget_me).

What belongs to a person: their private conversation (linked or not) and their per-person
conversations in groups, whole; in shared conversations, their own messages and the facts they
wrote. Erasing removes all of that, their links and pending link codes; a shared conversation
loses their turns (their message and the reply to it) and its summary, which is rebuilt.
"""

from __future__ import annotations

import gzip
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from nono.core.errors import InvalidInput
from nono.core.linking import Linker
from nono.core.models import Message
from nono.core.store.base import PersonRecord, Store
from nono.core.summaries import Summarizer
from nono.core.users import validate_person_id

log = logging.getLogger(__name__)

EXPORT_FORMAT = "nono-export/1"
#: How long a /forget_me confirmation button stays valid.
CONFIRM_TTL = 300.0
_ALL = 10**9


@dataclass(frozen=True)
class Erasure:
    """What /forget_me removed."""

    conversations: int = 0
    messages: int = 0
    facts: int = 0
    summaries: int = 0
    links: int = 0

    def describe(self) -> str:
        return (
            f"Erased: {self.conversations} conversation(s), {self.messages} message(s), {self.facts} fact(s), "
            f"{self.summaries} summary(ies) and {self.links} link(s). I no longer remember anything about you."
        )


@dataclass(frozen=True)
class ExportFile:
    """An export ready to upload: its file name and bytes (gzip-compressed when it was over the limit)."""

    name: str
    data: bytes
    compressed: bool


def kind_of(conversation_id: str, person: str, record: PersonRecord | None) -> str:
    """`private`, `per-person` (the person's own in a group) or `shared`."""
    if conversation_id == person or (record is not None and conversation_id == record.conversation):
        return "private"
    platform, _, user = person.partition(":")
    if conversation_id.startswith(f"{platform}:") and conversation_id.endswith(f":person:{user}"):
        return "per-person"
    return "shared"


def _message(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"seq": message.seq, "role": message.role, "content": message.content,
                            "timestamp": message.timestamp}  # fmt: skip
    if message.speaker_id is not None:
        data["speaker"] = {"id": message.speaker_id, "name": message.speaker_name}
    if message.metadata:
        data["metadata"] = message.metadata
    return data


class PersonalData:
    """Export and erasure over a store; links are undone through the Linker so each account keeps its own."""

    def __init__(self, store: Store, links: Linker, summaries: Summarizer | None, clock: Callable[[], float]) -> None:
        self._store, self._links, self._summaries, self._clock = store, links, summaries, clock

    async def export(self, person: str) -> dict[str, Any]:
        """Everything stored about `person`, as one JSON-ready document."""
        person = validate_person_id(person)
        record = await self._store.person(person)
        ids = set(await self._store.conversations_of(person))
        if record is not None:
            ids.add(record.conversation)
        conversations = [await self._conversation(cid, person, record) for cid in sorted(ids)]
        return {
            "format": EXPORT_FORMAT,
            "person": person,
            "exported_at": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
            "linked_accounts": [p for p in record.people if p != person] if record else [],
            "conversations": [c for c in conversations if c is not None],
        }

    async def _conversation(self, cid: str, person: str, record: PersonRecord | None) -> dict[str, Any] | None:
        kind = kind_of(cid, person, record)
        session = await self._store.get_session(cid)
        messages = await self._store.history(cid, _ALL)
        facts = await self._store.facts(cid)
        summary = await self._store.get_summary(cid)
        if kind == "shared":  # only what they said and wrote: the rest is other people's
            messages = [m for m in messages if m.role == "user" and m.speaker_id == person]
            facts = [f for f in facts if f.author == person]
            summary = None
        if session is None and not messages and not facts:
            return None
        return {
            "id": cid,
            "kind": kind,
            "persona": session.persona if session and kind != "shared" else None,
            "created_at": session.created_at if session else None,
            "last_activity": session.last_activity if session else None,
            "messages": [_message(m) for m in messages],
            "facts": [f.to_data() for f in facts],
            "summary": summary.to_data() if summary is not None and not summary.dropped else None,
        }

    async def export_file(self, person: str, limit: int) -> ExportFile:
        """The export as a file of at most `limit` bytes: JSON, or gzip-compressed JSON when it is bigger."""
        document = await self.export(person)
        data = json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
        name = f"nono-export-{person.replace(':', '-')}.json"
        if len(data) <= limit:
            return ExportFile(name, data, compressed=False)
        packed = gzip.compress(data, mtime=0)
        if len(packed) <= limit:
            return ExportFile(name + ".gz", packed, compressed=True)
        raise InvalidInput(
            "Your data is too large to send here even compressed. Ask the person who runs this bot for an export."
        )

    async def erase(self, person: str) -> Erasure:
        """Remove everything stored about `person`; what went, in counts."""
        person = validate_person_id(person)
        links = 1 if await self._links.unlink(person) else 0  # their turns go back to their own conversation
        await self._links.forget(person)
        counts = {"conversations": 0, "messages": 0, "facts": 0, "summaries": 0}
        for cid in await self._store.conversations_of(person):
            summary = await self._store.get_summary(cid)
            summarized = summary is not None and not summary.dropped
            if kind_of(cid, person, None) == "shared":
                erased = await self._store.erase_speaker(cid, person)
                counts["messages"] += erased.messages
                counts["facts"] += erased.facts
                if erased.messages:  # the summary covered their words: dropped by the store
                    counts["summaries"] += summarized
                    if self._summaries is not None:
                        self._summaries.schedule(cid)  # rebuilt from what the others said
                continue
            session = await self._store.get_session(cid)
            counts["conversations"] += 1
            counts["messages"] += session.message_count if session else 0
            counts["facts"] += len(await self._store.facts(cid))
            counts["summaries"] += summarized
            await self._store.clear(cid)
        erasure = Erasure(links=links, **counts)
        log.info("person_erased", extra={"person": person, **asdict(erasure)})
        return erasure

    # -- /forget_me confirmations ------------------------------------------------------

    async def ask(self, person: str) -> str:
        """A confirmation id for erasing `person`, valid 5 minutes, usable once and by them only."""
        token = secrets.token_urlsafe(9)
        await self._store.put_token(f"forget:{token}", validate_person_id(person), self._clock() + CONFIRM_TTL)
        return token

    async def confirm(self, person: str, token: str) -> Erasure:
        """Erase `person` if `token` is theirs and unexpired; InvalidInput otherwise (nothing changes)."""
        owner = await self._store.get_token(f"forget:{token}", self._clock())
        if owner != person:
            raise InvalidInput("That confirmation has expired or isn't yours. Send /forget_me again.")
        await self._store.take_token(f"forget:{token}", self._clock())
        return await self.erase(person)

    async def cancel(self, person: str, token: str) -> None:
        """Drop `person`'s pending confirmation; someone else's token is left alone."""
        if await self._store.get_token(f"forget:{token}", self._clock()) == person:
            await self._store.take_token(f"forget:{token}", self._clock())
