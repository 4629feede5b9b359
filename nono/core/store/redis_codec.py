"""How Redis replies become Sessions, Messages, summaries, facts and link records, and how they are written back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from nono.core.models import Message, Session
from nono.core.store.base import Context, Fact, PersonRecord, Summary


def text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def pairs(flat: list[Any]) -> dict[Any, Any]:
    """A hash as a script returns it, [field, value, field, value, ...], as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def messages_of(items: list[bytes] | list[str], first: int) -> list[Message]:
    """Stored messages, the first one at position `first`."""
    if not items:
        return []
    # One json.loads for the whole page: 50 calls cost 3x more, mostly in json's Python layers (bench P7).
    joined = b",".join(items) if isinstance(items[0], bytes) else ",".join(items).encode()
    return [Message.from_data(data, first + i) for i, data in enumerate(json.loads(b"[" + joined + b"]"))]


def payload(messages: Sequence[Message]) -> list[bytes]:
    """Messages as list items. backslashreplace turns a lone surrogate into a JSON \\uXXXX escape inside its
    string: valid UTF-8 on the wire, and json.loads gives the same text back."""
    return [message.to_json().encode("utf-8", "backslashreplace") for message in messages]


def dump(value: Any) -> str:
    # ASCII escapes keep odd unicode (lone surrogates) storable and round-trip exactly.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def field(name: str) -> bytes:
    # A hash field name is raw bytes; a lone surrogate in it is kept as its \uXXXX escape.
    return name.encode("utf-8", "backslashreplace")


def session_of(raw: dict[Any, Any], metadata: dict[Any, Any]) -> Session | None:
    if not raw:
        return None
    fields = {text(key): value for key, value in raw.items()}
    conversation_id, persona = text(fields["conversation_id"]), text(fields["persona"])
    created_at, last_activity = float(fields["created_at"]), float(fields["last_activity"])
    count = int(fields.get("message_count", 0))
    return Session(conversation_id, persona, created_at, last_activity, count, metadata_of(metadata.items()))


def context_of(reply: list[Any], conversation_id: str) -> Context:
    """A turn's context as the load-context script returns it (a dropped summary is not shown)."""
    raw, meta, length, items, stored, facts = reply
    summary = summary_of(stored)
    return Context(
        session_of(pairs(raw), pairs(meta)), messages_of(items, first=length - len(items)), conversation_id,
        None if summary is None or summary.dropped else summary, tuple(facts_of(facts)),
    )  # fmt: skip


def listed_session(conversation_id: str, fields: list[Any], metadata: list[Any]) -> Session | None:
    """A session as the active-page script returns it: HMGET values in order, HGETALL as a flat list."""
    persona, created_at, last_activity, count = fields
    if persona is None:
        return None
    meta = metadata_of(zip(metadata[::2], metadata[1::2], strict=True)) if metadata else {}
    return Session(conversation_id, text(persona), float(created_at), float(last_activity), int(count or 0), meta)


def metadata_of(items: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
    return {text(key): json.loads(value) for key, value in items}


def session_fields(session: Session, count: int) -> dict[str, str | int]:
    """The session hash of a conversation rewritten whole (linking), holding `count` messages."""
    return {
        "conversation_id": session.conversation_id, "persona": session.persona,
        "created_at": repr(session.created_at), "last_activity": repr(session.last_activity), "message_count": count,
    }  # fmt: skip


def person_of(person: str, raw: dict[Any, Any]) -> PersonRecord | None:
    if not raw:
        return None
    fields = {text(key): text(value) for key, value in raw.items()}
    return PersonRecord(person, fields["conversation"], tuple(json.loads(fields["people"])))


def person_fields(record: PersonRecord) -> dict[str, str]:
    return {"conversation": record.conversation, "people": json.dumps(list(record.people))}


def token_value(value: str, expires_at: float) -> str:
    """A token as stored: its expiry (judged by the caller's clock, not Redis's TTL), a newline, the value."""
    return f"{expires_at!r}\n{value}"


def unexpired(stored: bytes | str | None, now: float) -> str | None:
    """A token's value as `token_value` wrote it, unless it has expired by `now`."""
    if stored is None:
        return None
    expires_at, _, value = text(stored).partition("\n")
    return value if float(expires_at) > now else None


def summary_of(stored: bytes | str | None) -> Summary | None:
    """The summary record as stored (a dropped one included), or None when there is none."""
    return None if stored is None else Summary.from_data(json.loads(stored))


def summary_value(summary: Summary, revision: int) -> str:
    """A summary record as stored, with `revision` (the store counts revisions, not the caller)."""
    return dump({**summary.to_data(), "revision": revision})


def dropped_summary(stored: bytes | str | None, now: float) -> str:
    """The record that replaces a summary whose messages were rewritten: no text, one revision on."""
    old = summary_of(stored)
    return summary_value(Summary("", -1, "", now), 1 if old is None else old.revision + 1)


def fact_value(fact: Fact) -> str:
    return dump(fact.to_data())


def facts_of(items: Sequence[bytes | str]) -> list[Fact]:
    return [Fact.from_data(json.loads(item)) for item in items]


def ttl_ms(history_ttl: float | None) -> int | None:
    """HISTORY_TTL as a PEXPIRE argument (at least 1 ms), or None when nothing expires."""
    return None if history_ttl is None else max(1, round(history_ttl * 1000))


def ttl_arg(ttl: int | None) -> str:
    """The TTL argument of the scripts that mark a session active: in ms, '' for none."""
    return "" if ttl is None else str(ttl)
