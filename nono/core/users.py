"""User (conversation) ids and person ids are `platform:id` strings, validated once at the boundary."""

from __future__ import annotations

import re

from nono.core.errors import InvalidUserId

MAX_USER_ID_LENGTH = 128
# A platform name, a colon, then anything printable without whitespace.
_USER_ID = re.compile(r"[a-z][a-z0-9_-]{0,31}:[^\s\x00-\x1f\x7f]+")
#: The same rule as a pattern string, for schemas (the sidecar's OpenAPI document).
USER_ID_PATTERN = _USER_ID.pattern


def validate_user_id(user_id: object) -> str:
    """Return `user_id` unchanged if it is a valid `platform:id`, else raise InvalidUserId."""
    if not isinstance(user_id, str) or not user_id:
        raise InvalidUserId("A user id is required, written as platform:id (for example discord:1234).")
    if len(user_id) > MAX_USER_ID_LENGTH:
        raise InvalidUserId(f"A user id may be at most {MAX_USER_ID_LENGTH} characters long.")
    if not user_id.isprintable() or not _USER_ID.fullmatch(user_id) or _has_surrogate(user_id):
        raise InvalidUserId(
            "A user id is written as platform:id (for example discord:1234), without spaces or control characters."
        )
    return user_id


def platform_of(user_id: str) -> str:
    """The platform part of a validated user id (`discord` for `discord:1234`)."""
    return user_id.split(":", 1)[0]


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


#: A person (who speaks) as links name them: one colon, then URL-safe characters.
_PERSON_ID = re.compile(r"[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9._~-]+")
PERSON_ID_PATTERN = _PERSON_ID.pattern


def validate_person_id(person: object) -> str:
    """Return `person` if it names a person (`discord:1234`, `rest:alice`), else raise InvalidUserId.

    Stricter than a user id: no second colon, so a person can never be mistaken for a group
    conversation (`discord:channel:55`), and URL-safe, so it can be a path segment.
    """
    if not isinstance(person, str) or len(person) > MAX_USER_ID_LENGTH or not _PERSON_ID.fullmatch(person):
        raise InvalidUserId(
            "A person id is written as platform:id, the id made of letters, digits and . _ ~ - "
            f"(for example discord:1234 or telegram:5678), at most {MAX_USER_ID_LENGTH} characters."
        )
    return person
