"""The OpenAPI document: every route is in it, it is valid OpenAPI 3.1, and its patterns mean what the code checks."""

from __future__ import annotations

import re
import sys

import pytest
import schemathesis
from aiohttp import web

from nono.adapters.http.models import MESSAGE_PATTERN, USER_ID_SCHEMA_PATTERN
from nono.adapters.http.requests import OPENAPI
from nono.bot.settings import Settings
from nono.core.errors import InvalidUserId
from nono.core.users import validate_user_id


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
