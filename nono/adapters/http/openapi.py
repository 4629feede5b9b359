"""The OpenAPI 3.1 document, generated from the route table and the pydantic models it names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

import nono
from nono.adapters.http.errors import PROBLEM_JSON, Handler
from nono.adapters.http.ids import CONVERSATION_ID_SCHEMA, FACT_ID_SCHEMA, PERSON_ID_SCHEMA, USER_ID_SCHEMA
from nono.adapters.http.memory_models import MEMORY_REQUEST_MODELS, MEMORY_RESPONSE_MODELS
from nono.adapters.http.models import REQUEST_MODELS, RESPONSE_MODELS

REF = "#/components/schemas/{model}"

ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "Missing or wrong admin token (`Authorization: Bearer <ADMIN_TOKEN>`)",
    403: "Refused: no ADMIN_TOKEN and the request is not a direct local one (Host, Origin, proxy headers), "
    "or a wrong Telegram secret",
    404: "Unknown persona, no such conversation (history, facts, summary), the people are not linked (unlink), "
    "no such fact, or not found",
    408: "The body did not arrive within SIDECAR_READ_TIMEOUT seconds; the connection is closed",
    409: "The conversation already remembers as many facts as it may (MEMORY_MAX_FACTS); nothing was stored",
    413: "The body is larger than 64 KiB",
    415: "The body is not declared as application/json",
    426: "Not a WebSocket handshake",
    422: "Invalid input: unknown or mistyped fields, an invalid conversation, person or user id, "
    "an empty or too long message",
    429: "Rate limited; see Retry-After",
    500: "Unexpected error (logged; no details are returned)",
    503: "The store or the model is unavailable; nothing was changed",
}
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer challenge"}},
    429: {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait"}},
}
#: How each path parameter is described, unless a route says otherwise.
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "user_id": USER_ID_SCHEMA,
    "conversation_id": CONVERSATION_ID_SCHEMA,
    "person_id": PERSON_ID_SCHEMA,
    "other_id": PERSON_ID_SCHEMA,
    "fact_id": FACT_ID_SCHEMA,
}
#: A `{name}` in a route's path.
PATH_PARAMETER = re.compile(r"\{(\w+)\}")


#: Where a link takes the conversation from, unless it says otherwise: the response's `conversation_id`.
FROM_CONVERSATION = (("conversation_id", "$response.body#/conversation_id"),)


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: an operation the response leads to, and where each of its parameters comes from."""

    operation: str
    parameters: tuple[tuple[str, str], ...] = FROM_CONVERSATION


@dataclass(frozen=True)
class RouteSpec:
    """One route: how it is served and how it is documented.

    `ok` is the success body: a response model, a raw OpenAPI `content` mapping, or None for no body.
    """

    method: str
    path: str
    name: str
    handler: Handler
    summary: str
    ok: type[BaseModel] | dict[str, Any] | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    public: bool = False
    tag: str = "admin"
    ok_status: int = 200
    description: str = ""
    #: A security scheme replacing the admin token (the Telegram webhook's secret header).
    security: str | None = None
    #: Operations this response leads to (OpenAPI links); a bare name takes the response's `conversation_id`.
    links: tuple[str | Link, ...] = ()
    #: Other documented non-problem responses, as (status, model): /ready's 503 report.
    also: tuple[tuple[int, type[BaseModel]], ...] = ()
    #: Kept for old clients only (the session routes, aliases of the conversation routes).
    deprecated: bool = False
    #: Path parameters described unlike PATH_SCHEMAS says, as (name, schema): the WebSocket's REST person.
    path_schemas: tuple[tuple[str, dict[str, Any]], ...] = ()
    #: Headers of the success response, as (name, description): the export's Content-Disposition.
    ok_headers: tuple[tuple[str, str], ...] = ()


def build_openapi(routes: list[RouteSpec], max_message_chars: int) -> dict[str, Any]:
    """The whole document for these routes, with the chat's message limit."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Nono sidecar",
            "version": nono.__version__,
            "description": "Health, metrics and the admin API of a Nono chat bot. See docs/sidecar.md.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(max_message_chars),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"},
                "telegramSecret": {"type": "apiKey", "in": "header", "name": "X-Telegram-Bot-Api-Secret-Token"},
            },
        },
        "security": [{"bearer": []}],
    }


def _schemas(max_message_chars: int) -> dict[str, Any]:
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation") for m in REQUEST_MODELS + MEMORY_REQUEST_MODELS
    ]
    pairs += [(m, "serialization") for m in RESPONSE_MODELS + MEMORY_RESPONSE_MODELS]
    _, top = models_json_schema(pairs, ref_template=REF)
    schemas = top.get("$defs", {})
    for name in ("ChatIn", "WsChatIn"):
        schemas[name]["properties"]["message"]["maxLength"] = max_message_chars
    return schemas


def _operation(route: RouteSpec) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.name, "summary": route.summary, "tags": [route.tag]}
    if route.description:
        op["description"] = route.description
    if route.deprecated:
        op["deprecated"] = True
    if route.security is not None:
        op["security"] = [{route.security: []}]
    elif route.public:
        op["security"] = []
    params = _path_params(route) + _query_params(route)
    if params:
        op["parameters"] = params
    if route.body is not None:
        content = {"application/json": {"schema": {"$ref": REF.format(model=route.body.__name__)}}}
        op["requestBody"] = {"required": True, "content": content}
    op["responses"] = {str(route.ok_status): _ok_response(route), **_error_responses(route)}
    for status, model in route.also:
        content = {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}
        op["responses"][str(status)] = {"description": route.summary, "content": content}
    return op


def _path_params(route: RouteSpec) -> list[dict[str, Any]]:
    schemas = {**PATH_SCHEMAS, **dict(route.path_schemas)}
    names = PATH_PARAMETER.findall(route.path)
    return [{"name": name, "in": "path", "required": True, "schema": schemas[name]} for name in names]


def _query_params(route: RouteSpec) -> list[dict[str, Any]]:
    if route.query is None:
        return []
    properties = route.query.model_json_schema()["properties"]
    params = []
    for name, schema in properties.items():
        schema = _without_null(schema)
        description = schema.pop("description", None)
        param = {"name": name, "in": "query", "required": False, "schema": schema}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent, never null: keep only the non-null branch of `X | None`."""
    variants = [v for v in schema.get("anyOf", ()) if v.get("type") != "null"]
    if len(variants) != 1:
        return dict(schema)
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**variants[0], **rest}


def _ok_response(route: RouteSpec) -> dict[str, Any]:
    response: dict[str, Any] = {"description": route.summary}
    if route.links:
        links = [Link(link) if isinstance(link, str) else link for link in route.links]
        response["links"] = {
            link.operation: {"operationId": link.operation, "parameters": dict(link.parameters)} for link in links
        }
    if route.ok_headers:
        string = {"type": "string"}
        response["headers"] = {name: {"schema": string, "description": text} for name, text in route.ok_headers}
    if isinstance(route.ok, dict):
        response["content"] = route.ok
    elif route.ok is not None:
        response["content"] = {"application/json": {"schema": {"$ref": REF.format(model=route.ok.__name__)}}}
    return response


def _error_responses(route: RouteSpec) -> dict[str, Any]:
    statuses = set(route.errors) | {500}
    if not route.public:
        statuses |= {401, 403}
    if route.body is not None:
        statuses |= {400, 408, 413, 415, 422}
    if route.query is not None or PATH_PARAMETER.search(route.path):
        statuses.add(422)
    problem = {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}}
    responses = {}
    for status in sorted(statuses):
        response: dict[str, Any] = {"description": ERROR_DESCRIPTIONS[status], "content": problem}
        if status in _ERROR_HEADERS:
            response["headers"] = _ERROR_HEADERS[status]
        responses[str(status)] = response
    return responses
