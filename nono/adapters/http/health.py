"""Readiness: is every dependency answering? Each check is bounded in time and reported by name only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

from nono.adapters.parts import Part
from nono.core.chat import ChatService
from nono.core.errors import NonoError

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


async def readiness(chat: ChatService, parts: Iterable[Part]) -> dict[str, State]:
    """`{"store": "ok", "llm": "failing", "discord": "ok", …}`, all checks run concurrently."""
    probes: dict[str, Probe] = {"store": chat.store.ping, "llm": chat.llm.health}
    for part in parts:
        probes[part.name] = _adapter_probe(part.healthy)
    states = await asyncio.gather(*(_state(name, probe) for name, probe in probes.items()))
    return dict(zip(probes, states, strict=True))
