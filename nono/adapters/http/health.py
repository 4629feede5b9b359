"""Readiness: is every dependency answering? Each check is bounded in time and reported by name only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

from nono.adapters.parts import Part
from nono.core.chat import ChatService
from nono.core.errors import NonoError
from nono.core.llm.backends import persona_chains_up

log = logging.getLogger(__name__)

#: A dependency that has not answered within this many seconds counts as failing.
READY_TIMEOUT = 5.0

Probe = Callable[[], Awaitable[None]]
State = Literal["ok", "failing"]


class AdapterDown(NonoError):
    """An adapter reported itself unhealthy."""


def _adapter_probe(healthy: Callable[[], bool]) -> Probe:
    async def probe() -> None:
        if not healthy():
            raise AdapterDown()

    return probe


async def _state(name: str, probe: Probe) -> State:
    try:
        await asyncio.wait_for(probe(), READY_TIMEOUT)
    except (NonoError, TimeoutError) as exc:
        log.warning("ready_check_failed", extra={"check": name, "error": type(exc).__name__})
        return "failing"
    except Exception:  # a broken probe must make readiness fail, not crash it
        log.exception("ready_check_crashed", extra={"check": name})
        return "failing"
    return "ok"


async def readiness(chat: ChatService, parts: Iterable[Part]) -> tuple[dict[str, State], dict[str, State]]:
    """`{"store": "ok", "llm": "ok", "discord": "ok", …}` and each backend's state, all checked concurrently.

    "llm" is ok while every persona has a backend of its chain (its own, then LLM_FALLBACK's) up:
    a backend that is down but stood in for keeps the bot ready, and shows as failing in the second dict.
    """
    backends = chat.backends
    probes: dict[str, Probe] = {"store": chat.store.ping}
    for llm in backends:
        probes[f"llm:{llm.name}"] = llm.health
    for part in parts:
        probes[part.name] = _adapter_probe(part.healthy)
    states = dict(zip(probes, await asyncio.gather(*(_state(n, p) for n, p in probes.items())), strict=True))
    up = {llm.name: states.pop(f"llm:{llm.name}") == "ok" for llm in backends}
    chains = {p.name: [llm.name for llm in backends.chain(p.backend)] for p in chat.personas.all()}
    stranded = persona_chains_up(chains, up)
    if stranded:
        log.warning("ready_personas_without_model", extra={"personas": stranded})
    checks: dict[str, State] = {"store": states.pop("store"), "llm": "failing" if stranded else "ok", **states}
    return checks, {name: "ok" if ok else "failing" for name, ok in up.items()}
