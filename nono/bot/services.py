"""Build the store, the model, the personas and ChatService from Settings, and tear them down."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from nono.bot.settings import Settings
from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import ConfigError, StoreUnavailable
from nono.core.llm import LLM
from nono.core.personas import PersonaRegistry
from nono.core.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """Everything an entry point needs, built once and never changed: adapters get what they need passed in."""

    settings: Settings
    store: Store
    llm: LLM
    personas: PersonaRegistry
    chat: ChatService


def chat_limits(settings: Settings) -> ChatLimits:
    return ChatLimits(
        max_context_messages=settings.max_context_messages,
        num_ctx=settings.num_ctx,
        max_message_chars=settings.max_message_chars,
        max_reply_chars=settings.max_reply_chars,
        session_timeout=settings.session_timeout,
        max_pending_per_user=settings.max_pending_per_user,
        rate_limit_per_minute=settings.rate_limit_per_minute or None,
        memory_summary=settings.memory_summary,
        memory_summary_tokens=settings.memory_summary_tokens,
        memory_facts_tokens=settings.memory_facts_tokens,
        memory_max_facts=settings.memory_max_facts,
        turn_lease=settings.turn_lease,
        lock_lease=settings.lock_lease,
    )


# One factory per backend name. Each imports its backend when called, so an unused backend's
# client (redis, ollama, llama-cpp from the optional extra) is never loaded.


def _sqlite_store(settings: Settings) -> Store:
    from nono.core.store.sqlite_store import SQLiteStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(settings.sqlite_path, history_ttl=settings.history_ttl)


def _redis_store(settings: Settings) -> Store:
    from nono.core.store.redis_store import RedisStore

    try:
        return RedisStore.from_url(
            settings.redis_dsn, prefix=settings.key_prefix, history_ttl=settings.history_ttl,
            cluster=settings.redis_cluster,  # the URL names one node; the client finds the rest
        )  # fmt: skip
    except ValueError as exc:  # redis-py's URL parsing: a bad scheme, port or database number
        raise ConfigError(f"REDIS_URL is not a valid Redis URL: {exc}") from None


def _local_llm(settings: Settings) -> LLM:
    from nono.core.llm.local_llm import LocalLLM

    return LocalLLM(
        model_path=settings.model_path,
        n_ctx=settings.num_ctx,
        n_threads=settings.llm_threads,
        timeout=settings.llm_timeout,
        max_queue=settings.llm_max_queue,
    )


def _ollama_llm(settings: Settings) -> LLM:
    from nono.core.llm.ollama_llm import OllamaLLM

    return OllamaLLM(
        host=settings.ollama_host,
        model=settings.model_name,
        timeout=settings.llm_timeout,
        keep_alive=settings.ollama_keep_alive,
        max_queue=settings.llm_max_queue,
    )


#: STORE → factory; the keys are exactly the values Settings accepts.
STORE_FACTORIES: dict[str, Callable[[Settings], Store]] = {"sqlite": _sqlite_store, "redis": _redis_store}
#: LLM_BACKEND → factory.
LLM_FACTORIES: dict[str, Callable[[Settings], LLM]] = {"local": _local_llm, "ollama": _ollama_llm}


def build_store(settings: Settings) -> Store:
    return STORE_FACTORIES[settings.store](settings)


def build_llm(settings: Settings) -> LLM:
    return LLM_FACTORIES[settings.llm_backend](settings)


@asynccontextmanager
async def open_services(settings: Settings, *, llm: LLM | None = None) -> AsyncIterator[Services]:
    """Open every long-lived resource; close only what was opened, in reverse order.

    `llm` replaces the configured backend (tests pass a FakeLLM).
    """
    personas = PersonaRegistry.from_directory(
        settings.personas_dir, settings.default_persona, max_bytes=settings.persona_max_bytes
    )
    for warning in settings.warnings():
        log.warning("settings_changed_meaning", extra={"warning": warning})
    async with AsyncExitStack() as stack:
        store = build_store(settings)
        stack.push_async_callback(store.aclose)
        if llm is None:
            llm = build_llm(settings)
            stack.push_async_callback(llm.aclose)
        _check_budget(personas, settings)
        await _check_store(store)
        chat = ChatService(store, llm, personas, chat_limits(settings))
        stack.push_async_callback(chat.aclose)
        log.info(
            "services_ready",
            extra={"store": settings.store, "llm": llm.name, "personas": len(personas)},
        )
        yield Services(settings, store, llm, personas, chat)


async def _check_store(store: Store) -> None:
    """Migrate the store and warn about settings that would lose data; a store that is down now is retried on each turn.

    A store written by a newer Nono raises SchemaTooNew (a ConfigError): start-up stops with its message.
    """
    try:
        await store.migrate()
        await store.ping()
        for warning in await store.durability_warnings():
            log.warning("store_durability", extra={"warning": warning})
    except StoreUnavailable:
        log.warning("store_unavailable_at_start", extra={"hint": "turns fail until it answers; no restart needed"})


def _check_budget(personas: PersonaRegistry, settings: Settings) -> None:
    """A persona whose reply budget eats the whole context could never answer: refuse to start."""
    memory = settings.memory_facts_tokens + (settings.memory_summary_tokens if settings.memory_summary else 0)
    for persona in personas.all():
        if persona.max_tokens >= settings.num_ctx // 2:
            raise ConfigError(
                f"persona {persona.name!r}: max_tokens {persona.max_tokens} leaves too little of "
                f"NUM_CTX={settings.num_ctx} for the conversation (keep it under half)"
            )
        if persona.max_tokens + memory > settings.num_ctx * 3 // 4:
            raise ConfigError(
                f"persona {persona.name!r}: max_tokens {persona.max_tokens} plus MEMORY_FACTS_TOKENS and "
                f"MEMORY_SUMMARY_TOKENS ({memory}) leave too little of NUM_CTX={settings.num_ctx} for the "
                "conversation itself (keep them under three quarters of it)"
            )
