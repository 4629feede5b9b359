"""How linking joins two private histories into one, and how unlinking splits them back (pure functions).

Histories are handled by turns — a user message and the replies after it — so a reply always
stays with the message it answers. A turn belongs to the person who spoke it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from nono.core.models import Message, Session
from nono.core.users import platform_of

Turns = list[list[Message]]


def turns_of(messages: Iterable[Message]) -> Turns:
    """Messages grouped into turns, in order (replies with no message before them form their own turn)."""
    turns: Turns = []
    for message in messages:
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def owned_by(messages: Sequence[Message], person: str) -> list[Message]:
    """A person's own history, their user messages marked with them as the speaker where it was unknown."""
    return [replace(m, speaker_id=person) if m.role == "user" and m.speaker_id is None else m for m in messages]


def merged(*histories: Sequence[Message]) -> list[Message]:
    """Several histories as one, turns in time order (a stable sort: equal times keep their order)."""
    turns = [turn for history in histories for turn in turns_of(history)]
    turns.sort(key=lambda turn: turn[0].timestamp)
    return [message for turn in turns for message in turn]


def split(messages: Sequence[Message], leaving: str) -> tuple[list[Message], list[Message]]:
    """(the leaving person's turns, everyone else's): by who spoke, or failing that by platform."""
    platform = platform_of(leaving)
    theirs: list[Message] = []
    others: list[Message] = []
    for turn in turns_of(messages):
        speaker = turn[0].speaker_id or ""
        mine = speaker == leaving or (":" in speaker and platform_of(speaker) == platform)
        (theirs if mine else others).extend(turn)
    return theirs, others


def joined_session(conversation_id: str, first: Session | None, second: Session | None, count: int) -> Session | None:
    """The linked conversation's session: the first's persona (the code's issuer), else the second's."""
    sessions = [s for s in (first, second) if s is not None]
    if not sessions:
        return None
    metadata = {k: v for s in reversed(sessions) for k, v in s.metadata.items()}
    return Session(
        conversation_id, sessions[0].persona, min(s.created_at for s in sessions),
        max(s.last_activity for s in sessions), count, metadata,
    )  # fmt: skip


def session_copy(conversation_id: str, session: Session, count: int) -> Session:
    """`session` (persona, times, metadata) for another conversation holding `count` messages."""
    return replace(session, conversation_id=conversation_id, message_count=count)
