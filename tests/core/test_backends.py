"""Several backends: a persona's `backend:` picks who answers; LLM_FALLBACK stands in before the first chunk."""

from __future__ import annotations

import logging

import pytest

from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import Busy, ConfigError, ModelUnavailable, PersonaConfigError
from nono.core.llm.backends import Backends
from nono.core.llm.fake import FakeLLM
from nono.core.personas import Persona, PersonaRegistry
from nono.core.turns import TurnRecord

USER = "terminal:alice"
DOWN = "The model server is unavailable right now."


def persona(name: str, **fields) -> Persona:
    return Persona(name=name, display_name=name.title(), system_prompt=f"You are {name}.", **fields)


@pytest.fixture
def fakes() -> dict[str, FakeLLM]:
    return {name: FakeLLM(name=name) for name in ("local", "ollama", "openai")}


@pytest.fixture
def registry() -> PersonaRegistry:
    personas = {
        "assistant": persona("assistant"),
        "pirate": persona("pirate", backend="ollama", model="hf.co/org/pirate-GGUF:Q4"),
        "router": persona("router", backend="openai", model="openai/gpt-4o-mini"),
    }
    return PersonaRegistry(personas, "assistant")


def service(store, fakes, registry, fallback=()) -> ChatService:
    limits = ChatLimits(memory_summary=False)
    return ChatService(store, Backends(fakes.values(), "local", fallback), registry, limits)


async def talk(chat: ChatService, text: str, user: str = USER) -> str:
    reply = chat.stream(user, text)
    async with reply:
        return "".join([chunk async for chunk in reply])


async def test_each_persona_is_answered_by_its_own_backend_with_its_model_unsplit(sqlite_store, fakes, registry):
    chat = service(sqlite_store, fakes, registry)
    fakes["local"].enqueue("plain")
    fakes["ollama"].enqueue("arr")
    fakes["openai"].enqueue("routed")

    assert await talk(chat, "hi") == "plain"
    await chat.set_persona(USER, "pirate")
    assert await talk(chat, "ahoy") == "arr"
    await chat.set_persona(USER, "router")
    assert await talk(chat, "hello") == "routed"

    assert [p.options.model for p in fakes["local"].history] == [None]  # the backend's own model
    assert [p.options.model for p in fakes["ollama"].history] == ["hf.co/org/pirate-GGUF:Q4"]
    assert [p.options.model for p in fakes["openai"].history] == ["openai/gpt-4o-mini"]
    # One conversation: the pirate's backend saw what the assistant said before.
    assert [m.content for m in fakes["openai"].history[0].messages][1:3] == ["hi", "plain"]


@pytest.mark.parametrize("failure", [ModelUnavailable(DOWN, fallback=True), Busy()], ids=["refused-or-5xx", "busy"])
async def test_a_backend_down_before_its_first_chunk_is_stood_in_for_and_the_user_notices_nothing(
    sqlite_store, fakes, registry, failure
):
    chat = service(sqlite_store, fakes, registry, fallback=("openai", "local"))
    ended: list[TurnRecord] = []
    chat.add_listener(ended.append)
    await chat.set_persona(USER, "pirate")
    fakes["ollama"].enqueue([], error=failure)
    fakes["openai"].enqueue("stood in")

    assert await talk(chat, "ahoy") == "stood in"

    # The stand-in's own model, not the persona's (which only its own backend knows).
    assert fakes["openai"].history[0].options.model is None
    assert fakes["local"].history == []  # the first stand-in answered: the next was never asked
    assert [(r.backend, r.fell_back, r.outcome) for r in ended] == [("openai", ("ollama",), "ok")]
    history = await chat.history(USER)
    assert [m.content for m in history] == ["ahoy", "stood in"]


async def test_every_backend_of_the_chain_is_tried_in_order_and_the_last_failure_is_what_the_user_hears(
    sqlite_store, fakes, registry
):
    chat = service(sqlite_store, fakes, registry, fallback=("ollama", "openai"))
    for name in ("local", "ollama", "openai"):
        fakes[name].enqueue([], error=ModelUnavailable(f"{name} is down", fallback=True))

    with pytest.raises(ModelUnavailable, match="openai is down"):
        await talk(chat, "hi")

    assert [len(fake.history) for fake in fakes.values()] == [1, 1, 1]
    assert await chat.history(USER) == []  # nothing half-done is stored


async def test_a_failure_another_backend_would_not_fix_is_not_stood_in_for(sqlite_store, fakes, registry):
    chat = service(sqlite_store, fakes, registry, fallback=("ollama",))
    fakes["local"].enqueue([], error=ModelUnavailable("The model server refused our credentials."))

    with pytest.raises(ModelUnavailable, match="credentials"):
        await talk(chat, "hi")
    assert fakes["ollama"].history == []


async def test_a_reply_that_has_started_never_switches_backend(sqlite_store, fakes, registry):
    chat = service(sqlite_store, fakes, registry, fallback=("ollama",))
    fakes["local"].enqueue(["Half ", "an answer"], error=ModelUnavailable(DOWN, fallback=True))

    reply = chat.stream(USER, "hi")
    seen = []
    with pytest.raises(ModelUnavailable):
        async with reply:
            async for chunk in reply:
                seen.append(chunk)
    assert seen == ["Half ", "an answer"]
    assert fakes["ollama"].history == []


async def test_empty_chunks_before_a_failure_still_count_as_not_started(sqlite_store, fakes, registry):
    chat = service(sqlite_store, fakes, registry, fallback=("ollama",))
    fakes["local"].enqueue(["", ""], error=ModelUnavailable(DOWN, fallback=True))
    fakes["ollama"].enqueue("second")
    assert await talk(chat, "hi") == "second"


async def test_the_prompt_is_cut_again_to_the_stand_in_backends_token_count(sqlite_store, registry):
    # The stand-in counts every text as costly: the same history no longer fits, so older turns are left out.
    roomy = FakeLLM(name="local", count_tokens=lambda text: 1)
    tight = FakeLLM(name="ollama", count_tokens=lambda text: 700 if text.startswith("old") else 1)
    limits = ChatLimits(memory_summary=False, num_ctx=2048)
    chat = ChatService(sqlite_store, Backends([roomy, tight], "local", ("ollama",)), registry, limits)
    for i in range(3):
        roomy.enqueue(f"answer {i}")
        await talk(chat, f"old message {i}")
    roomy.enqueue([], error=ModelUnavailable(DOWN, fallback=True))
    tight.enqueue("fits")

    assert await talk(chat, "new") == "fits"

    sent_roomy = [m.content for m in roomy.history[-1].messages]
    sent_tight = [m.content for m in tight.history[-1].messages]
    assert "old message 0" in sent_roomy
    assert "old message 0" not in sent_tight and sent_tight[-1] == "new"


def test_backends_refuse_names_that_are_not_configured():
    with pytest.raises(ConfigError, match="'openai' is not one of LLM_BACKENDS"):
        Backends([FakeLLM(name="local")], "local", ("openai",))
    with pytest.raises(ConfigError, match="configured twice"):
        Backends([FakeLLM(name="local"), FakeLLM(name="local")])


def test_a_chain_is_the_personas_backend_then_the_fallbacks_each_once(fakes):
    backends = Backends(fakes.values(), "local", ("ollama", "local", "openai"))
    assert [llm.name for llm in backends.chain(None)] == ["local", "ollama", "openai"]
    assert [llm.name for llm in backends.chain("openai")] == ["openai", "ollama", "local"]


async def test_listings_show_every_backend_and_why_one_could_not_say(fakes):
    fakes["ollama"].health_error = ModelUnavailable(DOWN, fallback=True)
    listings = {listing.backend: listing for listing in await Backends(fakes.values()).listings()}
    assert [m.name for m in listings["local"].models] == ["fake-model"]
    assert listings["ollama"].error == DOWN and listings["ollama"].models == ()


def test_a_reload_naming_an_unconfigured_backend_is_refused_and_the_old_set_kept(tmp_path, fakes, caplog):
    from nono.bot.backends import persona_check

    (tmp_path / "a.yaml").write_text("name: assistant\ndisplay_name: A\nsystem_prompt: You help.\n")
    registry = PersonaRegistry.from_directory(tmp_path, "assistant")
    registry.check = persona_check(Backends([fakes["local"]]))
    (tmp_path / "b.yaml").write_text("name: pirate\ndisplay_name: P\nsystem_prompt: Arr.\nbackend: ollama\n")

    with caplog.at_level(logging.INFO), pytest.raises(PersonaConfigError, match="backend 'ollama' is not one of"):
        registry.reload()
    assert registry.names() == ["assistant"]
