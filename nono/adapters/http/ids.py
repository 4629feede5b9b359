"""The ids the sidecar reads: conversation ids (any stored id), person ids, and the REST person a caller speaks as.

Each rule is the core's; this module only says how it appears in the OpenAPI document and turns
a broken id into a 422 that names the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from nono.core.errors import InvalidUserId
from nono.core.people import Speaker
from nono.core.users import MAX_USER_ID_LENGTH, PERSON_ID_PATTERN, USER_ID_PATTERN, validate_person_id, validate_user_id

#: The JSON Schema `format` naming Nono's user-id rule (printable `platform:id`).
USER_ID_FORMAT = "nono-user-id"
#: What Python's `\s` and `str.strip()` treat as whitespace, spelled out: JSON Schema patterns are
#: ECMAScript regular expressions, whose `\s` differs (it lacks U+001C-U+001F and U+0085, adds U+FEFF).
WHITESPACE_CLASS = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: The core's user-id pattern with the same meaning in ECMAScript and Python.
USER_ID_SCHEMA_PATTERN = "^" + USER_ID_PATTERN.replace(r"\s", WHITESPACE_CLASS) + "$"

REST_PREFIX = "rest:"
#: A REST person as a caller may write it: `alice` or `rest:alice` (a test holds this to `rest_person`).
REST_PERSON_SCHEMA_PATTERN = rf"^(?:rest:)?[A-Za-z0-9._~-]{{1,{MAX_USER_ID_LENGTH - len(REST_PREFIX)}}}$"
REST_PERSON_RULE = (
    "A REST caller speaks as the person rest:<id> (or just <id>), the id made of letters, digits and . _ ~ - "
    f"(at most {MAX_USER_ID_LENGTH - len(REST_PREFIX)} characters). People of other platforms cannot be "
    "spoken for over REST; read or manage their conversations under /conversations/{conversation_id}."
)

USER_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_USER_ID_LENGTH,
    "pattern": USER_ID_SCHEMA_PATTERN,
    "format": USER_ID_FORMAT,
    "description": "platform:id, printable, no whitespace (for example rest:alice or discord:1234)",
    "examples": ["rest:alice"],
}
CONVERSATION_ID_SCHEMA: dict[str, Any] = {
    **USER_ID_SCHEMA,
    "description": "A conversation id (see the table in docs/sidecar.md); a linked person's id names "
    "their linked private conversation. Percent-encode what is not URL-safe.",
    "examples": ["telegram:5678", "discord:channel:55:person:1234"],
}
PERSON_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_USER_ID_LENGTH,
    "pattern": f"^{PERSON_ID_PATTERN}$",
    "description": "Who speaks: platform:id, the id made of letters, digits and . _ ~ - (for example discord:1234)",
    "examples": ["discord:1234"],
}
REST_PERSON_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_USER_ID_LENGTH,
    "pattern": REST_PERSON_SCHEMA_PATTERN,
    "description": "The REST person speaking: rest:<id>, or just <id> (rest: is added)",
    "examples": ["rest:alice", "alice"],
}
FACT_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "description": "A remembered fact's id, as GET /conversations/{conversation_id}/facts lists it: stable, "
    "unlike the numbers /memory shows (positions)",
    "examples": ["k3m9x2qa"],
}


def rest_person(value: str) -> str:
    """The REST person a caller speaks as: `alice` and `rest:alice` are both `rest:alice` (else InvalidUserId)."""
    # Only rest: people may be spoken for: a caller writing as discord:1234 would put words in that
    # person's private memory.
    person = value if value.startswith(REST_PREFIX) else REST_PREFIX + value
    try:
        return validate_person_id(person)
    except InvalidUserId:
        raise InvalidUserId(REST_PERSON_RULE) from None


def rest_speaker(person: str) -> Speaker:
    """A REST person as the speaker of their turns, named by their own id (REST callers send no display name)."""
    return Speaker.of(person, person.removeprefix(REST_PREFIX))


def _pydantic(check: Callable[[str], str]) -> Callable[[str], str]:
    """A core id check as a pydantic validator that reports the core's own message."""

    def validate(value: str) -> str:
        try:
            return check(value)
        except InvalidUserId as exc:
            raise PydanticCustomError("invalid_user_id", str(exc)) from None

    return validate


UserId = Annotated[str, AfterValidator(_pydantic(validate_user_id)), WithJsonSchema(USER_ID_SCHEMA)]
PersonId = Annotated[str, AfterValidator(_pydantic(validate_person_id)), WithJsonSchema(PERSON_ID_SCHEMA)]
RestPerson = Annotated[str, AfterValidator(_pydantic(rest_person)), WithJsonSchema(REST_PERSON_SCHEMA)]
