"""People and conversations: who speaks, and where what they say is remembered.

A **person** is who speaks (`discord:<id>`, `telegram:<id>`, `terminal:<name>`, `rest:<id>`). A
**conversation** is where memory and the persona choice live. The scope policy (a place and a
person → a conversation) is written here once; adapters only describe the place.

Privacy rule: a prompt holds only its own conversation's messages. A private conversation's id
is its person's id (or, once linked, the id of the linked people's one private conversation),
and no group conversation id can ever equal a person id, so nothing said in private can be
loaded for a group.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from nono.core.errors import InvalidUserId
from nono.core.users import validate_user_id

MAX_NAME_LENGTH = 64
MAX_CONVERSATION_ID_LENGTH = 128
#: URL-safe without escaping (RFC 3986 unreserved characters, plus ':' which a path segment allows).
_CONVERSATION_ID = re.compile(r"[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9._~:-]+")
CONVERSATION_ID_PATTERN = _CONVERSATION_ID.pattern
#: Markers that chat templates give meaning to (`<|im_start|>`, `[INST]`, `<s>`…): a display name
#: that contains one could forge a turn of the conversation in the prompt.
_TEMPLATE_MARKERS = re.compile(
    r"<\|[^|>]*\|>|<\|?/?(?:s|im_start|im_end|endoftext)\|?>|\[/?INST\]|<<SYS>>|<</SYS>>|###"
)


class Scope(StrEnum):
    """How many conversations a group place holds: one per person (the default) or one shared."""

    PERSON = "person"
    SHARED = "shared"


def strip_markers(text: str) -> str:
    """`text` without chat-template markers, so it cannot forge a turn or a system message in a prompt.

    Repeated until nothing changes: removing `<|x|>` from `<|im_<|x|>start|>` would rebuild a marker.
    """
    while True:
        cleaned = _TEMPLATE_MARKERS.sub("", text)
        if cleaned == text:
            return text
        text = cleaned


def clean_name(name: object, fallback: str = "someone") -> str:
    """A display name safe to put in a prompt: no control characters or template markers, at most 64 characters."""
    text = name if isinstance(name, str) else ""
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    text = strip_markers(text)
    text = " ".join(text.replace(":", " ").split())[:MAX_NAME_LENGTH].strip()
    return text or fallback


@dataclass(frozen=True)
class Speaker:
    """Who says a message: a person id and their display name (cleaned for prompts)."""

    person: str
    name: str

    @classmethod
    def of(cls, person: str, name: object = None) -> Speaker:
        """A speaker with a validated person id and a cleaned name (the id's own part when no name is known)."""
        person = validate_user_id(person)
        return cls(person, clean_name(name, fallback=person.split(":", 1)[1][:MAX_NAME_LENGTH]))


@dataclass(frozen=True)
class Conversation:
    """Where a turn is remembered. `private`: a person's own chat (linkable); `shared`: several people's."""

    id: str
    private: bool = False
    shared: bool = False

    @classmethod
    def private_of(cls, person: str) -> Conversation:
        """A person's private conversation (DM, private chat, terminal, REST)."""
        return cls(validate_user_id(person), private=True)


@dataclass(frozen=True)
class Place:
    """A group place on a platform: a Discord channel or thread, a Telegram group or forum topic.

    `key` names it within the platform, e.g. `channel:123` or `chat:-100123:topic:7`.
    """

    platform: str
    key: str


def group_conversation(place: Place, person: str, scope: Scope) -> Conversation:
    """The conversation of `person` speaking in `place`: their own there, or the one everybody there shares.

    Ids: `<platform>:<key>` when shared, `<platform>:<key>:person:<id>` per person. A place key
    always holds a colon (`channel:1`), so no group id is ever a person id (`discord:1`).
    """
    if ":" not in place.key:
        raise ValueError(f"a place key looks like kind:id, got {place.key!r}")
    base = f"{place.platform}:{place.key}"
    if scope is Scope.SHARED:
        return Conversation(check_conversation_id(base), shared=True)
    own = person.split(":", 1)[1]
    return Conversation(check_conversation_id(f"{base}:person:{own}"))


def check_conversation_id(value: object) -> str:
    """Return `value` if it is a valid conversation id (≤128 characters, URL-safe), else raise InvalidUserId."""
    if not isinstance(value, str) or not value:
        raise InvalidUserId("A conversation id is required, for example discord:1234 or telegram:chat:-100123.")
    if len(value) > MAX_CONVERSATION_ID_LENGTH:
        raise InvalidUserId(f"A conversation id may be at most {MAX_CONVERSATION_ID_LENGTH} characters long.")
    if not _CONVERSATION_ID.fullmatch(value):
        raise InvalidUserId(
            "A conversation id is written as platform:id using letters, digits and . _ ~ : - only "
            "(for example discord:1234 or discord:channel:55:person:1234)."
        )
    return value


#: A conversation as callers may name it: a Conversation, or a person id meaning their private one.
ConversationLike = Conversation | str


def as_conversation(conversation: ConversationLike) -> Conversation:
    """A Conversation as given, or a person id's private one (validated)."""
    if isinstance(conversation, Conversation):
        return conversation
    return Conversation.private_of(validate_user_id(conversation))
