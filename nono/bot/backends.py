"""Build the model backends from Settings (LLM_BACKENDS, LLM_FALLBACK) and check the personas against them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from nono.bot.settings import Settings, parse_headers
from nono.core.llm.backends import Backends
from nono.core.llm.base import LLM
from nono.core.personas import Persona, PersonaRegistry

log = logging.getLogger(__name__)

#: Start-up waits this long for the servers' model lists (the check only warns).
LISTING_TIMEOUT = 5.0

# One factory per backend name. Each imports its backend when called, so an unused backend's
# client (ollama, openai, llama-cpp from the optional extra) is never loaded.


def _local_llm(settings: Settings) -> LLM:
    from nono.core.llm.local_llm import LocalLLM

    return LocalLLM(
        model_path=settings.model_path,
        n_ctx=settings.num_ctx,
        n_threads=settings.llm_threads,
        gpu_layers=settings.llm_gpu_layers,
        timeout=settings.llm_timeout,
        max_queue=settings.llm_max_queue,
    )


def _ollama_llm(settings: Settings) -> LLM:
    from nono.core.llm.ollama_llm import OllamaLLM

    return OllamaLLM(
        host=settings.ollama_host,
        model=settings.model_for("ollama"),
        timeout=settings.llm_timeout,
        keep_alive=settings.ollama_keep_alive,
        max_queue=settings.llm_max_queue,
    )


def _openai_llm(settings: Settings) -> LLM:
    from nono.core.llm.openai_llm import OpenAILLM

    key, headers = settings.openai_api_key, settings.openai_headers
    return OpenAILLM(
        base_url=settings.openai_base_url,
        api_key=key.get_secret_value() if key is not None else None,
        model=settings.model_for("openai"),
        headers=parse_headers(headers.get_secret_value()) if headers is not None else {},
        timeout=settings.llm_timeout,
        max_queue=settings.llm_max_queue,
    )


#: Backend name (LLM_BACKEND, LLM_BACKENDS, a persona's `backend:`) → factory.
LLM_FACTORIES: dict[str, Callable[[Settings], LLM]] = {
    "local": _local_llm,
    "ollama": _ollama_llm,
    "openai": _openai_llm,
}


def build_backends(settings: Settings) -> Backends:
    """Every backend of LLM_BACKENDS, in its order."""
    built = [LLM_FACTORIES[name](settings) for name in settings.backend_names]
    return Backends(built, settings.llm_backend, settings.llm_fallback)


def persona_check(backends: Backends) -> Callable[[Mapping[str, Persona]], list[str]]:
    """The check a persona set must pass, at start-up and on every reload: each `backend:` is configured."""

    def check(personas: Mapping[str, Persona]) -> list[str]:
        configured = ", ".join(backends.names)
        return [
            f"persona {persona.name!r}: backend {persona.backend!r} is not one of LLM_BACKENDS ({configured})"
            for persona in personas.values()
            if persona.backend is not None and persona.backend not in backends.names
        ]

    return check


async def warn_unlisted_models(backends: Backends, personas: PersonaRegistry) -> None:
    """Warn (start-up goes on) of a persona model its server does not list, or a server that cannot say."""
    wanted: dict[str, set[str]] = {}
    for persona in personas.all():
        if persona.model is not None:
            wanted.setdefault(persona.backend or backends.default, set()).add(persona.model)
    try:
        listings = await asyncio.wait_for(backends.listings(), LISTING_TIMEOUT)
    except TimeoutError:
        log.warning("llm_models_unknown", extra={"error": f"no listing within {LISTING_TIMEOUT:g} s"})
        return
    for listing in listings:
        if listing.error is not None:
            log.warning("llm_models_unknown", extra={"backend": listing.backend, "error": listing.error})
            continue
        listed = {model.name for model in listing.models}
        for model in sorted(wanted.get(listing.backend, set()) - listed):
            log.warning(
                "persona_model_not_listed",
                extra={"backend": listing.backend, "model": model, "listed": sorted(listed)[:20]},
            )
