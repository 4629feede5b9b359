"""What every adapter's `running(...)` yields: a named part the runner composes and `/ready` asks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

#: Takes one Telegram update (the JSON body posted to the webhook): the Telegram part makes it in
#: webhook mode, the HTTP adapter serves it at /telegram/webhook.
Feed = Callable[[dict[str, Any]], Awaitable[None]]


class Part(Protocol):
    """A running adapter, as the wiring and the readiness check see it."""

    @property
    def name(self) -> str:
        """Short name for logs and `/ready` ("discord", "telegram", "sidecar", "terminal")."""
        ...

    def healthy(self) -> bool:
        """True while the part is connected and serving."""
        ...
