"""What the Discord adapter learns from discord.py's HTTP client: its 429s (counted) and, at DEBUG, each call.

discord.py waits out rate limits by itself and offers no hook for them; every 429 it meets is
announced by one warning on its own loggers, so a logging filter there counts them without
touching the request path. Calls are timed with the aiohttp trace discord.py accepts
(`http_trace`), which costs nothing when it is not installed (LOG_LEVEL above DEBUG).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

#: discord.py's loggers for REST calls and for webhook/interaction calls, and the start of each one's 429
#: warning (discord/http.py, discord/webhook/async_.py): waited out or, past max_ratelimit_timeout, raised.
RATE_LIMIT_WARNINGS = {
    "discord.http": "We are being rate limited.",
    "discord.webhook.async_": "Webhook ID %s is rate limited.",
}
# Interaction and webhook tokens travel in the path: a long segment that is not an id is not logged.
_TOKEN_SEGMENT = re.compile(r"/(?![0-9]+(?:/|$))[^/]{33,}")


class _RateLimitCounter(logging.Filter):
    """Calls `on_rate_limited` for each 429 warning; passes on the records the logger would have shown anyway."""

    def __init__(self, prefix: str, on_rate_limited: Callable[[], None], shown_from: int) -> None:
        super().__init__()
        self._prefix = prefix
        self._on_rate_limited = on_rate_limited
        self._shown_from = shown_from

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(self._prefix):
            self._on_rate_limited()
        return record.levelno >= self._shown_from


@contextmanager
def counting_rate_limits(on_rate_limited: Callable[[], None]) -> Iterator[None]:
    """Call `on_rate_limited` on each 429 discord.py meets while the block runs."""
    installed = []
    for name, prefix in RATE_LIMIT_WARNINGS.items():
        logger = logging.getLogger(name)
        level, shown_from = logger.level, logger.getEffectiveLevel()
        # At LOG_LEVEL=ERROR the warning would not even be made: let it be made, counted, then dropped.
        if shown_from > logging.WARNING:
            logger.setLevel(logging.WARNING)
        counter = _RateLimitCounter(prefix, on_rate_limited, shown_from)
        logger.addFilter(counter)
        installed.append((logger, counter, level))
    try:
        yield
    finally:
        for logger, counter, level in installed:
            logger.removeFilter(counter)
            logger.setLevel(level)


def call_trace() -> aiohttp.TraceConfig | None:
    """A trace logging each Discord HTTP call at DEBUG (method, path, status, milliseconds); None above DEBUG."""
    if not log.isEnabledFor(logging.DEBUG):
        return None
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_started)
    trace.on_request_end.append(_ended)
    trace.on_request_exception.append(_failed)
    return trace


async def _started(session: aiohttp.ClientSession, context: SimpleNamespace, params: Any) -> None:
    context.started = time.monotonic()


async def _ended(session: aiohttp.ClientSession, context: SimpleNamespace, params: Any) -> None:
    _log_call(context, params, params.response.status)


async def _failed(session: aiohttp.ClientSession, context: SimpleNamespace, params: Any) -> None:
    _log_call(context, params, type(params.exception).__name__)


def _log_call(context: SimpleNamespace, params: Any, outcome: int | str) -> None:
    path = _TOKEN_SEGMENT.sub("/[token]", params.url.path)
    ms = round((time.monotonic() - context.started) * 1000, 1)
    log.debug("discord_call", extra={"method": params.method, "path": path, "outcome": outcome, "ms": ms})
