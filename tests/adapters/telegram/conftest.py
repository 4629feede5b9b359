"""Telegram fixtures: the real PTB Application from the adapter, talking HTTP to a loopback Bot API.

`tg` is the fake Telegram (users, groups, recorded calls). `telegram_bot(**settings)` runs
`telegram_running` — polling by default — on the shared ChatService (SQLite + FakeLLM).
Settings for one test come from keyword arguments; the token and base URL point at `tg`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from nono.adapters.telegram.app import telegram_running
from nono.bot.services import Services
from nono.bot.settings import Settings
from nono.core.chat import ChatService
from tests.fakes.telegram_server import TOKEN, FakeTelegram, running_telegram

ALICE, BOB, CAROL = 1001, 1002, 1003
GROUP = -1001234567890


@pytest.fixture(autouse=True)
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns whenever it builds a RetryAfter unless this opt-in is set (warnings are errors here)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with running_telegram() as fake:
        fake.add_user(ALICE, "Alice", "alice")
        fake.add_user(BOB, "Bob", "bob")
        fake.add_user(CAROL, "Carol")
        fake.add_group(GROUP, "Nono Club")
        yield fake


@pytest.fixture
def make_settings(tg: FakeTelegram, personas_dir: Path, tmp_path: Path) -> Callable[..., Settings]:
    def make(**values: Any) -> Settings:
        base = {
            "telegram_token": TOKEN,
            "telegram_base_url": tg.base_url,
            "personas_dir": personas_dir,
            "data_dir": tmp_path,
        }
        return Settings(_env_file=None, **{**base, **values})

    return make


@pytest.fixture
def make_services(chat: ChatService, make_settings: Callable[..., Settings]) -> Callable[..., Services]:
    def make(**values: Any) -> Services:
        return Services(make_settings(**values), chat.store, chat.llm, chat.personas, chat)

    return make


@pytest.fixture
def telegram_bot(make_services: Callable[..., Services]) -> Callable[..., AbstractAsyncContextManager[Services]]:
    """`async with telegram_bot(**settings) as services:` runs the adapter for the block."""

    @asynccontextmanager
    async def run(**values: Any) -> AsyncIterator[Services]:
        services = make_services(**values)
        async with telegram_running(services) as app:
            assert isinstance(app, Application)
            yield services

    return run


def user(tg: FakeTelegram, user_id: int) -> dict:
    return tg.users[user_id]


def group(tg: FakeTelegram) -> dict:
    return tg.chats[GROUP]


def private(tg: FakeTelegram, user_id: int) -> dict:
    return tg.chats[user_id]
