"""The OpenAPI document: every route is in it, it is valid OpenAPI 3.1, and its patterns mean what the code checks."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

import pytest
import schemathesis
from aiohttp import web

from nono.adapters.http.ids import REST_PERSON_SCHEMA_PATTERN, USER_ID_SCHEMA_PATTERN, rest_person
from nono.adapters.http.models import MESSAGE_PATTERN
from nono.adapters.http.requests import OPENAPI
from nono.bot.settings import Settings
from nono.core.errors import InvalidUserId
from nono.core.users import PERSON_ID_PATTERN, validate_person_id, validate_user_id


def served(app: web.Application) -> set[tuple[str, str]]:
    routes = app.router.routes()
    return {(route.method.lower(), route.resource.canonical) for route in routes}  # type: ignore[union-attr]


def documented(doc: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, operations in doc["paths"].items() for method in operations}


def test_every_route_is_documented_and_nothing_else(app: web.Application) -> None:
    routes = served(app)
    assert len(routes) >= 14
    assert routes == documented(app[OPENAPI])


def test_a_route_added_behind_the_tables_back_is_caught(app: web.Application) -> None:
    async def sneaky(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/sneaky", sneaky)
    assert served(app) - documented(app[OPENAPI]) == {("get", "/sneaky"), ("head", "/sneaky")}


def test_the_document_is_valid_openapi_3_1(app: web.Application) -> None:
    doc = app[OPENAPI]
    assert doc["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(doc).validate()


def test_every_operation_documents_its_errors_as_problems(app: web.Application) -> None:
    for path, operations in app[OPENAPI]["paths"].items():
        for method, operation in operations.items():
            assert "500" in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and not (path == "/ready" and status == "503"):
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)
            if operation.get("security") != []:
                assert "401" in operation["responses"] or path == "/telegram/webhook"


def test_limits_come_from_settings(app: web.Application, settings: Settings) -> None:
    schemas = app[OPENAPI]["components"]["schemas"]
    assert schemas["ChatIn"]["properties"]["message"]["maxLength"] == settings.max_message_chars
    assert schemas["ChatIn"]["additionalProperties"] is False


@pytest.mark.parametrize("settings_values", [{"metrics_public": True}])
def test_public_metrics_are_documented_as_public(app: web.Application, settings_values: dict) -> None:
    assert app[OPENAPI]["paths"]["/metrics"]["get"]["security"] == []


def _core_accepts(user_id: str) -> bool:
    try:
        validate_user_id(user_id)
    except InvalidUserId:
        return False
    return True


def test_the_user_id_pattern_matches_the_core_rule_except_printability() -> None:
    # JSON Schema patterns are ECMAScript; the document spells whitespace out so both readings agree.
    # What a pattern cannot say (format and unassigned characters) is named by the nono-user-id format.
    pattern = re.compile(USER_ID_SCHEMA_PATTERN)
    for code in range(sys.maxunicode + 1):
        user_id = f"rest:a{chr(code)}"
        if _core_accepts(user_id):
            assert pattern.search(user_id), hex(code)
        elif chr(code).isprintable():
            assert not pattern.search(user_id), hex(code)


def test_the_message_pattern_matches_what_the_core_calls_empty() -> None:
    pattern = re.compile(MESSAGE_PATTERN)
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert bool(pattern.search(char)) == bool(char.replace("\x00", "").strip()), hex(code)


CANONICAL = {
    ("get", "/conversations"),
    ("get", "/conversations/{conversation_id}/history"),
    ("delete", "/conversations/{conversation_id}"),
    ("put", "/conversations/{conversation_id}/persona"),
}
#: Each alias and the canonical route it stands for.
ALIASES = {
    ("get", "/session/{user_id}/history"): "GET /conversations/{conversation_id}/history",
    ("delete", "/session/{user_id}/clear"): "DELETE /conversations/{conversation_id}",
    ("put", "/session/{user_id}/persona"): "PUT /conversations/{conversation_id}/persona",
    ("get", "/sessions/active"): "GET /conversations",
}
PEOPLE = {
    ("get", "/people/{person_id}"),
    ("post", "/people/{person_id}/link"),
    ("delete", "/people/{person_id}/link/{other_id}"),
}
REST_CHAT = {("post", "/chat"), ("get", "/ws/chat/{user_id}"), ("post", "/session/start")}


def test_canonical_routes_aliases_and_people_routes_are_all_documented(app: web.Application) -> None:
    paths = app[OPENAPI]["paths"]
    for method, path in CANONICAL | PEOPLE | REST_CHAT:
        assert "deprecated" not in paths[path][method], (method, path)
    for (method, path), canonical in ALIASES.items():
        operation = paths[path][method]
        assert operation["deprecated"] is True
        assert canonical in operation["summary"] and canonical in operation["description"]
        # The alias answers what its canonical route answers.
        target_method, target_path = canonical.split(" ")
        target = paths[target_path][target_method.lower()]
        assert operation["responses"]["200"]["content"].keys() == target["responses"]["200"]["content"].keys()


def _parameters(app: web.Application, method: str, path: str) -> dict[str, dict]:
    operation = app[OPENAPI]["paths"][path][method]
    return {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "path"}


def test_path_parameters_carry_their_own_rules(app: web.Application) -> None:
    people = _parameters(app, "delete", "/people/{person_id}/link/{other_id}")
    assert people["person_id"]["pattern"] == people["other_id"]["pattern"] == f"^{PERSON_ID_PATTERN}$"
    conversation = _parameters(app, "get", "/conversations/{conversation_id}/history")["conversation_id"]
    assert conversation["pattern"] == USER_ID_SCHEMA_PATTERN  # any stored id, like the aliases' user_id
    assert _parameters(app, "get", "/ws/chat/{user_id}")["user_id"]["pattern"] == REST_PERSON_SCHEMA_PATTERN
    schemas = app[OPENAPI]["components"]["schemas"]
    assert schemas["ChatIn"]["properties"]["user_id"]["pattern"] == REST_PERSON_SCHEMA_PATTERN
    assert schemas["LinkIn"]["properties"]["other"]["pattern"] == f"^{PERSON_ID_PATTERN}$"


def _accepts(check: Callable[[str], str], value: str) -> bool:
    try:
        check(value)
    except InvalidUserId:
        return False
    return True


def as_ecmascript(pattern: str) -> re.Pattern[str]:
    """A schema pattern read as ECMAScript reads it: its final `$` is the very end (Python's allows a newline)."""
    assert pattern.endswith("$")
    return re.compile(pattern[:-1] + r"\Z")


def test_the_person_and_rest_person_patterns_match_the_code_for_every_character() -> None:
    person, rest = as_ecmascript(f"^{PERSON_ID_PATTERN}$"), as_ecmascript(REST_PERSON_SCHEMA_PATTERN)
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert bool(person.search(f"rest:a{char}")) == _accepts(validate_person_id, f"rest:a{char}"), hex(code)
        assert bool(rest.search(f"a{char}")) == _accepts(rest_person, f"a{char}"), hex(code)


@pytest.mark.parametrize("value", ["x" * 123, "x" * 124, "rest:" + "x" * 123, "rest:" + "x" * 124, "rest:", "rest"])
def test_the_rest_person_pattern_matches_the_code_at_the_length_limit(value: str) -> None:
    assert bool(as_ecmascript(REST_PERSON_SCHEMA_PATTERN).search(value)) == _accepts(rest_person, value)
