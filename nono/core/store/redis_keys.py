"""Every Redis key name of the store, written once (the store, its links, its memory and the migration use them).

The braces are Redis Cluster hash tags: one conversation's keys, and a person's link record next to
their private conversation (a person's id is their private conversation's id), live on one shard.
The few keys that span conversations (`conversations:active`, `inflight:turns`, `inflight:leases`,
`schema_version`, tokens) carry no tag: no script or transaction ever names them with a conversation's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Stands for the conversation id in a key template; never part of one (ids contain no whitespace).
_ID = "\n"


@dataclass(frozen=True)
class RedisKeys:
    """Key names under one prefix."""

    prefix: str

    def session(self, conversation_id: str) -> str:
        return f"{self.prefix}conv:{{{conversation_id}}}"

    def history(self, conversation_id: str) -> str:
        return f"{self.prefix}conv:{{{conversation_id}}}:history"

    def metadata(self, conversation_id: str) -> str:
        return f"{self.prefix}conv:{{{conversation_id}}}:metadata"

    def summary(self, conversation_id: str) -> str:
        return f"{self.prefix}conv:{{{conversation_id}}}:summary"

    def facts(self, conversation_id: str) -> str:
        return f"{self.prefix}conv:{{{conversation_id}}}:facts"

    def conversation(self, conversation_id: str) -> tuple[str, str, str]:
        """A conversation's session, history and metadata keys: its state, as a rewrite replaces it."""
        return self.session(conversation_id), self.history(conversation_id), self.metadata(conversation_id)

    def everything(self, conversation_id: str) -> tuple[str, str, str, str, str]:
        """Every key of a conversation: session, history, metadata, summary, facts (they expire together)."""
        return (*self.conversation(conversation_id), self.summary(conversation_id), self.facts(conversation_id))

    @property
    def conversations(self) -> str:
        """A SCAN pattern matching every key of every conversation (and no other prefix's)."""
        return f"{_glob_escaped(self.prefix)}conv:{{*"

    def conversation_of(self, key: str) -> str:
        """The conversation id in one of its keys (the text between the hash tag's braces; suffixes hold none)."""
        start = len(self.prefix) + len("conv:{")
        return key[start : key.rindex("}")]

    def person(self, person: str) -> str:
        return f"{self.prefix}person:{{{person}}}"

    def line(self, conversation_id: str) -> str:
        """The conversation's shared line: seat tickets in arrival order (see `redis_lines`)."""
        return f"{self.prefix}conv:{{{conversation_id}}}:line"

    def seats(self, conversation_id: str) -> str:
        """Each seat's lease end, the head's ticket and fencing token, the last token given."""
        return f"{self.prefix}conv:{{{conversation_id}}}:seats"

    def rate(self, person: str) -> str:
        """The person's accepted messages of the last minute (RATE_LIMIT_PER_MINUTE, across processes)."""
        return f"{self.prefix}person:{{{person}}}:rate"

    def pending(self, person: str) -> str:
        """The person's seats in any line, by lease end (MAX_PENDING_PER_USER, across processes)."""
        return f"{self.prefix}person:{{{person}}}:pending"

    def token(self, key: str) -> str:
        return f"{self.prefix}token:{key}"

    def event(self, event: str) -> str:
        """A platform event already seen (`telegram:update:…`, `discord:message:…`), kept for the replay window."""
        return f"{self.prefix}event:{{{event}}}"

    def lead(self, name: str) -> str:
        """A leader lease (`telegram:poll`): its holder's id, expiring with the lease (`redis_leads`)."""
        return f"{self.prefix}lead:{name}"

    @property
    def index(self) -> str:
        """The conversations scored by last activity."""
        return f"{self.prefix}conversations:active"

    def inflight(self, conversation_id: str) -> str:
        """The conversation's replies in flight: per turn id its record, `<id>:owner`, `<id>:progress`."""
        return f"{self.prefix}conv:{{{conversation_id}}}:inflight"

    @property
    def turns(self) -> str:
        """Every reply in flight: turn id → when it began and its conversation (`redis_inflight`'s sweep index)."""
        return f"{self.prefix}inflight:turns"

    @property
    def leases(self) -> str:
        """The lease end of each process owning replies in flight (a sorted set: owner by epoch seconds)."""
        return f"{self.prefix}inflight:leases"

    @property
    def version(self) -> str:
        return f"{self.prefix}schema_version"

    def templates(self) -> list[str]:
        """What surrounds an id in its session key and in its metadata key (the active-page script builds them)."""
        return [*self.session(_ID).split(_ID), *self.metadata(_ID).split(_ID)]

    # -- schema 0, read only by the migration ------------------------------------------------

    def legacy_conversation(self, conversation_id: str) -> tuple[str, str, str]:
        """Schema 0's session, history and metadata keys of one user id."""
        tag = f"{{{conversation_id}}}"
        return f"{self.prefix}session:{tag}", f"{self.prefix}chat:{tag}:history", f"{self.prefix}chat:{tag}:metadata"

    @property
    def legacy_sessions(self) -> str:
        """A SCAN pattern matching schema 0's session keys."""
        return f"{self.prefix}session:{{*}}"

    @property
    def legacy_index(self) -> str:
        return f"{self.prefix}sessions:active"

    # -- replies in flight before Redis Cluster, read only by `redis_inflight` -------------------

    @property
    def legacy_inflight(self) -> str:
        """Every reply in flight in one hash (a conversation's record now lives under its hash tag)."""
        return f"{self.prefix}inflight"

    @property
    def legacy_owners(self) -> str:
        """Owners' leases as a hash (owner → epoch seconds)."""
        return f"{self.prefix}inflight:owners"


def _glob_escaped(text: str) -> str:
    """`text` matched literally in a SCAN pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
