"""Flood control for Telegram: space the requests that post or change messages, per chat and overall.

Telegram allows about one message per second in a chat and twenty per minute in a group,
edits included, and about thirty per second for the whole bot. Every reply streaming in a
chat shares that chat's budget, so pacing lives here, keyed by chat, not in each reply; the
bot-wide budget is shared by every chat. A 429 (`RetryAfter`) is waited out and the request
retried: a reply is never dropped because Telegram asked us to slow down.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Telegram: "avoid sending more than one message per second" in one chat.
PRIVATE_INTERVAL = 1.0
#: Telegram: "bots are not able to send more than 20 messages per minute to the same group".
GROUP_INTERVAL = 3.0
NETWORK_ATTEMPTS = 3


#: Telegram: "no more than 30 messages per second" for the whole bot (TELEGRAM_GLOBAL_RATE).
GLOBAL_RATE = 30.0


class ChatPacer:
    """Hands out request slots per chat, at least `interval(chat_id)` seconds apart, first come first served,
    and at most `global_rate` per second over all chats (0: no bot-wide limit), with a second's worth as burst.
    """

    def __init__(
        self,
        min_interval: float = 0.0,
        *,
        global_rate: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_flood_wait: Callable[[], None] | None = None,
    ) -> None:
        self.min_interval = min_interval
        #: Called on each 429 (the wiring counts them for the sidecar's metrics).
        self.on_flood_wait = on_flood_wait
        self._clock = clock
        self._sleep = sleep
        self._next: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        # The bot-wide budget as GCRA (a token bucket kept as one timestamp): `_tat` is when the
        # bucket would be full again; a slot is free while it is at most `_burst` seconds ahead.
        self._spacing = 1 / global_rate if global_rate > 0 else 0.0
        self._burst = max(0.0, 1.0 - self._spacing)
        self._tat = 0.0

    def interval(self, chat_id: int) -> float:
        """Seconds between two requests in this chat (private chats have positive ids, groups negative)."""
        base = PRIVATE_INTERVAL if chat_id > 0 else GROUP_INTERVAL
        return max(base, self.min_interval)

    async def turn(self, chat_id: int) -> None:
        """Wait for this chat's next free slot and take it."""
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        async with lock:  # asyncio.Lock is FIFO: slots go in the order they were asked for
            while (delay := self._next.get(chat_id, 0.0) - self._clock()) > 0:
                await self._sleep(delay)  # re-checked: a 429 may have pushed the slot back meanwhile
            self._next[chat_id] = self._clock() + self.interval(chat_id)
        self._forget_idle()
        await self._global_turn()

    async def _global_turn(self) -> None:
        """Take the next bot-wide slot (slots are reserved in call order, so this is first come first served)."""
        if not self._spacing:
            return
        now = self._clock()
        self._tat = max(self._tat, now) + self._spacing
        delay = self._tat - now - self._spacing - self._burst
        if delay > 0:
            await self._sleep(delay)

    def congested(self) -> bool:
        """Whether a request now would wait for the bot-wide budget (previews skip a round then)."""
        return bool(self._spacing) and self._tat - self._clock() > self._burst

    def hold(self, chat_id: int, seconds: float) -> None:
        """Telegram said to wait: no slot in this chat for `seconds`."""
        self._next[chat_id] = max(self._next.get(chat_id, 0.0), self._clock() + seconds)

    def flood_wait(self, chat_id: int, seconds: float) -> None:
        """Telegram answered 429 "retry after `seconds`" in this chat: hold it, log it, count it."""
        log.warning("telegram_flood_wait", extra={"chat_id": chat_id, "retry_after": seconds})
        self.hold(chat_id, seconds)
        if self.on_flood_wait is not None:
            self.on_flood_wait()

    def _forget_idle(self) -> None:
        if len(self._next) < 4096:
            return
        now = self._clock()
        for chat_id in [c for c, at in self._next.items() if at < now]:
            lock = self._locks.get(chat_id)
            if lock is None or not lock.locked():
                self._next.pop(chat_id)
                self._locks.pop(chat_id, None)


def retry_after_seconds(exc: RetryAfter) -> float:
    """RetryAfter's wait in seconds (PTB 22 warns on the attribute while it moves from int to timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


async def paced(pacer: ChatPacer, chat_id: int, make_call: Callable[[], Awaitable[T] | None]) -> T | None:
    """Take a slot in the chat, then run the call `make_call` builds (None: nothing left to do).

    The call is built after the wait, so it carries the newest state (coalescing), and is
    rebuilt after a 429 or a dropped connection.
    """
    failures = 0
    while True:
        await pacer.turn(chat_id)
        call = make_call()
        if call is None:
            return None
        try:
            return await call
        except RetryAfter as exc:
            pacer.flood_wait(chat_id, retry_after_seconds(exc))
        except BadRequest:
            raise
        except NetworkError as exc:
            failures += 1
            if failures >= NETWORK_ATTEMPTS:
                raise
            log.warning("telegram_network_retry", extra={"chat_id": chat_id, "error": str(exc)})
            pacer.hold(chat_id, float(failures))


def is_entity_error(exc: BadRequest) -> bool:
    """Telegram refused our formatting ("can't parse entities")."""
    return "can't parse entities" in exc.message.lower() or "entity" in exc.message.lower()


def is_not_modified(exc: BadRequest) -> bool:
    """An edit that changes nothing: the message already shows what we wanted."""
    return "message is not modified" in exc.message.lower()
