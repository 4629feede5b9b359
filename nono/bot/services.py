"""Build the store, the model, the personas and ChatService from Settings, and tear them down."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from nono.bot.settings import Settings
from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import ConfigError, StoreUnavailable
from nono.core.llm import LLM, LLM_BACKENDS
from nono.core.personas import PersonaRegistry
from nono.core.store import STORE_BACKENDS, Store

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything an entry point needs, built once."""

    settings: Settings
    store: Store
    llm: LLM
    personas: PersonaRegistry
    chat: ChatService
    #: Adapters register a zero-argument callable returning True while they are healthy (for /ready).
    adapters: dict[str, Callable[[], bool]] = field(default_factory=dict)
    #: Set by the Telegram adapter in webhook mode: feeds one update (the JSON body) to it.
    #: The sidecar serves it at /telegram/webhook after checking Telegram's secret header.
    telegram_webhook: Callable[[dict[str, Any]], Awaitable[None]] | None = None


def load_class(table: dict[str, str], name: str) -> type:
    """Import the class registered under `name` in a backend table."""
    module_name, _, class_name = table[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def chat_limits(settings: Settings) -> ChatLimits:
    return ChatLimits(
        max_context_messages=settings.max_context_messages,
        num_ctx=settings.num_ctx,
        max_message_chars=settings.max_message_chars,
        max_reply_chars=settings.max_reply_chars,
        session_timeout=settings.session_timeout,
        max_pending_per_user=settings.max_pending_per_user,
        rate_limit_per_minute=settings.rate_limit_per_minute or None,
    )


def build_store(settings: Settings) -> Store:
    cls: Any = load_class(STORE_BACKENDS, settings.store)
    if settings.store == "redis":
        return cls.from_url(settings.redis_dsn, prefix=settings.key_prefix, history_ttl=settings.history_ttl)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return cls(settings.sqlite_path, history_ttl=settings.history_ttl)


def build_llm(settings: Settings) -> LLM:
    cls: Any = load_class(LLM_BACKENDS, settings.llm_backend)
    if settings.llm_backend == "ollama":
        return cls(
            host=settings.ollama_host,
            model=settings.model_name,
            timeout=settings.llm_timeout,
            keep_alive=settings.ollama_keep_alive,
            max_queue=settings.llm_max_queue,
        )
    return cls(
        model_path=settings.model_path,
        n_ctx=settings.num_ctx,
        n_threads=settings.llm_threads,
        timeout=settings.llm_timeout,
        max_queue=settings.llm_max_queue,
    )


@asynccontextmanager
async def open_services(settings: Settings, *, llm: LLM | None = None) -> AsyncIterator[Services]:
    """Open every long-lived resource; close only what was opened, in reverse order.

    `llm` replaces the configured backend (tests pass a FakeLLM).
    """
    personas = PersonaRegistry.from_directory(settings.personas_dir, settings.default_persona)
    async with AsyncExitStack() as stack:
        store = build_store(settings)
        stack.push_async_callback(store.aclose)
        if llm is None:
            llm = build_llm(settings)
            stack.push_async_callback(llm.aclose)
        _check_budget(personas, settings)
        await _check_store(store)
        chat = ChatService(store, llm, personas, chat_limits(settings))
        log.info(
            "services_ready",
            extra={"store": settings.store, "llm": llm.name, "personas": len(personas)},
        )
        yield Services(settings, store, llm, personas, chat)


async def _check_store(store: Store) -> None:
    """Warn about a store that would lose data; a store that is down now is retried on each turn."""
    try:
        await store.ping()
        for warning in await store.durability_warnings():
            log.warning("store_durability", extra={"warning": warning})
    except StoreUnavailable:
        log.warning("store_unavailable_at_start", extra={"hint": "turns fail until it answers; no restart needed"})


def _check_budget(personas: PersonaRegistry, settings: Settings) -> None:
    """A persona whose reply budget eats the whole context could never answer: refuse to start."""
    for persona in personas.all():
        if persona.max_tokens >= settings.num_ctx // 2:
            raise ConfigError(
                f"persona {persona.name!r}: max_tokens {persona.max_tokens} leaves too little of "
                f"NUM_CTX={settings.num_ctx} for the conversation (keep it under half)"
            )
