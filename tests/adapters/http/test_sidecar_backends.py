"""Several backends as operators see them: /ready per backend and per persona chain, nono_llm_up, fallback counts."""

from __future__ import annotations

from nono.bot.services import chat_limits
from nono.bot.settings import Settings
from nono.core.chat import ChatService
from nono.core.errors import ModelUnavailable
from nono.core.llm.backends import Backends
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from tests.adapters.http.helpers import AUTH, make_app, metric_value, scrape

DOWN = ModelUnavailable("The model server is unavailable right now.", fallback=True)


def two_backends(settings: Settings, sqlite_store, fallback: tuple[str, ...]):
    (settings.personas_dir / "corsair.yaml").write_text(
        "name: corsair\ndisplay_name: Corsair\nsystem_prompt: Arr.\nbackend: ollama\n"
    )
    registry = PersonaRegistry.from_directory(settings.personas_dir, settings.default_persona)
    local, ollama = FakeLLM(name="local"), FakeLLM(name="ollama")
    chat = ChatService(sqlite_store, Backends([local, ollama], "local", fallback), registry, chat_limits(settings))
    return chat, local, ollama


async def test_ready_stays_ready_while_every_persona_has_a_backend_of_its_chain_up(
    aiohttp_client, settings: Settings, sqlite_store
):
    chat, local, ollama = two_backends(settings, sqlite_store, fallback=("local",))
    client = await aiohttp_client(make_app(settings, chat))

    ollama.health_error = DOWN  # the corsair's backend is down, but local stands in for it
    response = await client.get("/ready")
    assert response.status == 200
    body = await response.json()
    assert body["checks"]["llm"] == "ok"
    assert body["backends"] == {"local": "ok", "ollama": "failing"}

    local.health_error = DOWN  # now nobody can answer anyone
    response = await client.get("/ready")
    assert (response.status, (await response.json())["checks"]["llm"]) == (503, "failing")


async def test_a_persona_whose_only_backend_is_down_makes_ready_fail(aiohttp_client, settings, sqlite_store):
    chat, _local, ollama = two_backends(settings, sqlite_store, fallback=())
    client = await aiohttp_client(make_app(settings, chat))
    ollama.health_error = DOWN
    response = await client.get("/ready")
    body = await response.json()
    assert (response.status, body["checks"]["llm"], body["backends"]) == (
        503,
        "failing",
        {"local": "ok", "ollama": "failing"},
    )


async def test_metrics_show_each_backends_health_and_count_fallbacks_from_zero(aiohttp_client, settings, sqlite_store):
    chat, local, ollama = two_backends(settings, sqlite_store, fallback=("ollama",))
    client = await aiohttp_client(make_app(settings, chat))
    text = await scrape(client)
    assert metric_value(text, "nono_llm_up", backend="local") == 1
    assert metric_value(text, "nono_llm_up", backend="ollama") == 1
    assert 'nono_llm_fallbacks_total{backend="local"} 0.0' in text  # the series exists before the first fallback

    local.health_error = DOWN
    local.enqueue([], error=DOWN)
    ollama.enqueue("stood in")
    response = await client.post("/chat", headers=AUTH, json={"user_id": "rest:ann", "message": "hi"})
    assert (response.status, (await response.json())["reply"]) == (200, "stood in")

    text = await scrape(client)
    assert metric_value(text, "nono_llm_up", backend="local") == 0
    assert metric_value(text, "nono_llm_fallbacks_total", backend="local") == 1
    assert metric_value(text, "nono_llm_fallbacks_total", backend="ollama") == 0
