"""The plain values the Telegram adapter is configured with (built by the wiring from TELEGRAM_* settings)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
#: The largest file a bot may upload through the Bot API (50 MB): an /export bigger than this is compressed.
UPLOAD_LIMIT = 50 * 1024 * 1024


@dataclass(frozen=True)
class TelegramOptions:
    """Token and server, allowlists and memory scope, pacing, webhook mode when `webhook_url` is set, upload size."""

    token: SecretStr
    base_url: str = DEFAULT_BASE_URL
    #: Groups: one conversation per person there ("person"), or one everybody there shares ("chat").
    memory_scope: Literal["person", "chat"] = "person"
    allowed_users: frozenset[int] = frozenset()
    allowed_chats: frozenset[int] = frozenset()
    #: Seconds between edits of one streamed answer (STREAM_EDIT_INTERVAL).
    edit_interval: float = 1.0
    #: Bot API messages per second across all chats (TELEGRAM_GLOBAL_RATE; 0 turns the budget off).
    global_rate: float = 30.0
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    #: Bytes a file the bot sends (/export) may have.
    upload_limit: int = UPLOAD_LIMIT
    #: Seconds the polling lead lasts unrenewed (LOCK_LEASE): a dead poller's successor starts within it.
    lock_lease: float = 30.0

    @property
    def webhook(self) -> bool:
        return bool(self.webhook_url)
