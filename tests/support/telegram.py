"""The one home of the Telegram fixtures (a pytest plugin, loaded by tests/conftest.py).

`tg` is the loopback Bot API (tests/fakes) with Alice, Bob, Carol, another bot (Robot), a group
and a forum supergroup (topics opened with `tg.add_topic`).
`telegram_bot(**settings)` runs the real adapter (`nono.adapters.telegram.running`, long
polling by default) on the test's `chat` fixture, with the token and Bot API server pointed at
`tg`; it yields the running `TelegramPart`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from nono.adapters import telegram
from nono.bot.options import telegram_options
from nono.bot.settings import Settings
from nono.core.chat import ChatService
from tests.fakes.telegram_server import TOKEN, FakeTelegram, running_telegram
from tests.support.settings import make_settings

ALICE, BOB, CAROL = 1001, 1002, 1003
ROBOT = 2001  # another bot: Nono never answers it
GROUP = -1001234567890
FORUM = -1009876543210


def telegram_values(tg: FakeTelegram) -> dict[str, Any]:
    """The settings that point the Telegram adapter at the loopback Bot API."""
    return {"telegram_token": TOKEN, "telegram_base_url": tg.base_url}


@pytest.fixture
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns whenever it builds a RetryAfter unless this opt-in is set (warnings are errors here)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def tg(ptb_timedelta: None) -> AsyncIterator[FakeTelegram]:
    async with running_telegram() as fake:
        fake.add_user(ALICE, "Alice", "alice")
        fake.add_user(BOB, "Bob", "bob")
        fake.add_user(CAROL, "Carol")
        fake.add_user(ROBOT, "Robot", "robot_bot", is_bot=True)
        fake.add_group(GROUP, "Nono Club")
        fake.add_group(FORUM, "Nono Forum", forum=True)
        yield fake


@pytest.fixture
def telegram_settings(tg: FakeTelegram) -> Callable[..., Settings]:
    """`telegram_settings(**values)`: Settings for the adapter on `tg`, plus `values`."""

    def make(**values: Any) -> Settings:
        return make_settings(**{**telegram_values(tg), **values})

    return make


@pytest.fixture
def telegram_bot(
    chat: ChatService, telegram_settings: Callable[..., Settings]
) -> Callable[..., AbstractAsyncContextManager[telegram.TelegramPart]]:
    """`async with telegram_bot(**settings) as part:` runs the adapter for the block."""

    @asynccontextmanager
    async def run(**values: Any) -> AsyncIterator[telegram.TelegramPart]:
        async with telegram.running(chat, telegram_options(telegram_settings(**values))) as part:
            yield part

    return run
