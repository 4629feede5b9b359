"""Build the store, the model, the personas and ChatService from Settings, and tear them down."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from nono.bot.backends import build_backends, persona_check, warn_unlisted_models
from nono.bot.settings import Settings
from nono.bot.turn_log import TurnLog
from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import ConfigError, PersonaConfigError, StoreUnavailable
from nono.core.llm import LLM
from nono.core.llm.backends import Backends
from nono.core.personas import PersonaRegistry
from nono.core.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """Everything an entry point needs, built once and never changed: adapters get what they need passed in."""

    settings: Settings
    store: Store
    #: The default backend (LLM_BACKEND); `backends` holds every configured one.
    llm: LLM
    backends: Backends
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


# One factory per store. Each imports its client when called, so an unused one is never loaded.


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


#: STORE → factory; the keys are exactly the values Settings accepts.
STORE_FACTORIES: dict[str, Callable[[Settings], Store]] = {"sqlite": _sqlite_store, "redis": _redis_store}


def build_store(settings: Settings) -> Store:
    return STORE_FACTORIES[settings.store](settings)


@asynccontextmanager
async def open_services(settings: Settings, *, llm: LLM | Backends | None = None) -> AsyncIterator[Services]:
    """Open every long-lived resource; close only what was opened, in reverse order.

    `llm` replaces the configured backends (tests pass a FakeLLM, or several as Backends).
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
            backends = build_backends(settings)
            stack.push_async_callback(backends.aclose)
        else:
            backends = llm if isinstance(llm, Backends) else Backends.single(llm)
        _check_budget(personas, settings)
        personas.check = persona_check(backends)
        if problems := personas.check({p.name: p for p in personas.all()}):
            raise PersonaConfigError(problems)
        await _check_store(store)
        await warn_unlisted_models(backends, personas)
        chat = ChatService(store, backends, personas, chat_limits(settings))
        chat.add_listener(TurnLog(message_text=settings.log_message_text))
        stack.push_async_callback(chat.aclose)
        log.info(
            "services_ready",
            extra={"store": settings.store, "llm": backends.default, "backends": list(backends.names),
                   "fallback": list(backends.fallback), "personas": len(personas)},
        )  # fmt: skip
        yield Services(settings, store, backends.default_llm, backends, personas, chat)


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
