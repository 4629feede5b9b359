"""`GET /models`: every backend's models for operators, asked of each backend's server at once.

A backend that cannot list (its server down, a bad key) is an empty list with its reason under
`errors`; the others are still listed and the answer is a 200: the sidecar itself did its job.
"""

from __future__ import annotations

from aiohttp import web

from nono.adapters.http.models import ModelOut, ModelsOut
from nono.adapters.http.openapi import RouteSpec
from nono.adapters.http.requests import chat_of
from nono.adapters.http.responses import json_response

_DESCRIPTION = (
    "`models` holds `{backend: [{name, size?, context?}]}` from Ollama's tags, the OpenAI-compatible "
    "`/v1/models` and the local GGUF's metadata; `size` (bytes) and `context` (tokens) are absent when the "
    "server does not say. A backend that cannot list its models has an empty list and its reason in `errors`."
)


async def models(request: web.Request) -> web.Response:
    """Each backend's models, the default backend, and why a backend could not list its own."""
    backends = chat_of(request).backends
    listings = await backends.listings()
    body = ModelsOut(
        default=backends.default,
        models={x.backend: [ModelOut(name=m.name, size=m.size, context=m.context) for m in x.models] for x in listings},
        default_models={x.backend: x.model for x in listings},
        errors={x.backend: x.error for x in listings if x.error is not None},
    )
    # `size?`, `context?`: an unknown value is left out rather than sent as null.
    return json_response(body.model_dump(exclude_none=True))


def model_routes() -> list[RouteSpec]:
    """The model listing route."""
    return [
        RouteSpec("GET", "/models", "models", models, "Each backend's models", ModelsOut, tag="models",
                  description=_DESCRIPTION),
    ]  # fmt: skip
