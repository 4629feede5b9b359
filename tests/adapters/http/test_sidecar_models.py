"""`GET /models` as an operator calls it: each backend's models, the default backend, and why a backend could not say.

Through the real app factory over SQLite, with three scripted backends (local, ollama, openai).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from nono.adapters.http.requests import OPENAPI
from nono.bot.services import chat_limits
from nono.bot.settings import Settings
from nono.core.chat import ChatService
from tests.adapters.http.helpers import AUTH, call, make_app
from tests.support.model_backends import REFUSED, model_backends, model_registry

LOCAL = {"name": "SmolLM2-135M-Instruct-Q8_0.gguf", "size": 144_811_680, "context": 8192}
OLLAMA = [
    {"name": "llama3.2:latest", "size": 2_019_393_189},
    {"name": "hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF:Q4_K_M", "size": 4_683_073_536},
]
OPENAI = [
    {"name": "openai/gpt-4o-mini", "context": 128_000},
    {"name": "anthropic/claude-3.5-haiku", "context": 200_000},
]
DEFAULT_MODELS = {"local": LOCAL["name"], "ollama": "llama3.2:latest", "openai": "openai/gpt-4o-mini"}


@pytest.fixture
def models_client(aiohttp_client: Callable[..., Any], settings: Settings, sqlite_store: Any) -> Callable[..., Any]:
    """`await models_client(failing=…)`: a client of the real app over the three backends."""

    async def make(failing: tuple[str, ...] = ()) -> TestClient:
        registry = model_registry(settings.personas_dir)
        chat = ChatService(sqlite_store, model_backends(failing=failing), registry, chat_limits(settings))
        return await aiohttp_client(make_app(settings, chat))

    return make


async def test_models_lists_every_backend_leaving_out_what_is_unknown(models_client) -> None:
    client = await models_client()

    body = await call(client, "GET", "/models")

    assert body == {
        "default": "local",
        "models": {"local": [LOCAL], "ollama": OLLAMA, "openai": OPENAI},
        "default_models": DEFAULT_MODELS,
        "errors": {},
    }


async def test_a_backend_that_cannot_list_is_empty_with_its_reason_and_the_others_are_listed(models_client) -> None:
    client = await models_client(failing=("ollama",))

    body = await call(client, "GET", "/models")

    assert body["models"] == {"local": [LOCAL], "ollama": [], "openai": OPENAI}
    assert body["errors"] == {"ollama": REFUSED}
    assert body["default_models"] == DEFAULT_MODELS


async def test_models_needs_the_admin_token(models_client) -> None:
    client = await models_client()

    response = await client.get("/models")

    assert response.status == 401
    assert response.content_type == "application/problem+json"
    assert (await response.json())["code"] == "unauthorized"
    assert (await client.get("/models", headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await client.get("/models", headers=AUTH)).status == 200


async def test_models_is_documented_with_its_shape(models_client) -> None:
    client = await models_client()

    doc = client.app[OPENAPI]
    operation = doc["paths"]["/models"]["get"]
    schemas = doc["components"]["schemas"]

    assert operation["operationId"] == "models" and "401" in operation["responses"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ModelsOut"}
    assert set(schemas["ModelsOut"]["required"]) == {"default", "models", "default_models", "errors"}
    assert schemas["ModelOut"]["required"] == ["name"]
