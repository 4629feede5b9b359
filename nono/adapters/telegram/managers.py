"""Who manages a Telegram group: its administrators and its creator, as Telegram says (getChatMember).

In a shared group conversation only they may switch the persona or /reset: it changes what
everybody there hears and what the bot remembers for all of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from telegram import Bot
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from nono.core.errors import ServiceUnavailable
from nono.core.wording import MANAGERS_UNKNOWN

log = logging.getLogger(__name__)

MANAGER_STATUSES = frozenset({ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})
#: An answer is reused this long: a persona keyboard tapped a few times costs one lookup, and an
#: admin who was just demoted keeps their say for at most this long.
CACHE_SECONDS = 60.0
#: Answers remembered; beyond this the memory starts over (it only saves lookups).
MAX_REMEMBERED = 10_000


class ChatManagers:
    """Asks Telegram whether a person administers a chat, remembering the answer briefly."""

    def __init__(self, bot: Bot, *, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._bot = bot
        self._ttl = ttl
        self._clock = clock
        self._known: dict[tuple[int, int], tuple[bool, float]] = {}

    async def is_manager(self, chat_id: int, user_id: int) -> bool:
        """True for the chat's administrators and creator; ServiceUnavailable, logged, when Telegram cannot say."""
        key = (chat_id, user_id)
        now = self._clock()
        known = self._known.get(key)
        if known is not None and known[1] > now:
            return known[0]
        try:
            member = await self._bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            # Nothing changes (the safe side), and the person is told why honestly: they may well be a manager.
            log.warning("telegram_manager_lookup_failed", extra={"chat_id": chat_id, "error": str(exc)})
            raise ServiceUnavailable(MANAGERS_UNKNOWN) from exc
        manager = member.status in MANAGER_STATUSES
        if len(self._known) >= MAX_REMEMBERED:
            self._known.clear()
        self._known[key] = (manager, now + self._ttl)
        return manager
