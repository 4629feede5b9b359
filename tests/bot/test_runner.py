"""The runner composes the configured parts: platforms first, then the sidecar that serves and reports on them."""

from __future__ import annotations

import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest

from nono.bot.runner import start_parts
from nono.bot.services import open_services
from nono.core.errors import ConfigError
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import TOKEN
from tests.fakes.telegram_server import FakeTelegram
from tests.support.settings import make_settings
from tests.support.telegram import ALICE, telegram_values

SECRET = "runner-webhook-secret"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def test_webhook_updates_posted_to_the_sidecar_reach_the_telegram_adapter(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, admin_token=TOKEN, sidecar_port=0,
        telegram_webhook_url="https://bot.example.org/telegram/webhook", telegram_webhook_secret=SECRET,
        **telegram_values(tg),
    )  # fmt: skip
    llm = FakeLLM()
    llm.enqueue("Hello through the webhook.")
    async with open_services(settings, llm=llm) as services, AsyncExitStack() as stack:
        sidecar, *platforms = await start_parts(services, stack)
        assert [part.name for part in (sidecar, *platforms)] == ["sidecar", "telegram"]
        update = tg.make_update(tg.users[ALICE], tg.chats[ALICE], "hi")
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{sidecar.url}/telegram/webhook", json=update, headers={HEADER: SECRET}) as posted:
                assert posted.status == 200
            async with http.get(f"{sidecar.url}/ready") as ready:
                assert (ready.status, (await ready.json())["checks"]["telegram"]) == (200, "ok")
        await tg.wait_for(lambda: tg.shown(ALICE))
    assert tg.shown(ALICE) == ["Hello through the webhook."]
    assert not tg.calls_to("getUpdates"), "webhook mode: nothing polls"


async def test_an_exposed_sidecar_with_a_short_token_stops_start_up_before_telegram_is_contacted(
    tg: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, admin_token="short", sidecar_host="0.0.0.0", sidecar_port=0, **telegram_values(tg)
    )
    async with open_services(settings, llm=FakeLLM()) as services, AsyncExitStack() as stack:
        with pytest.raises(ConfigError, match="ADMIN_TOKEN is too short"):
            await start_parts(services, stack)
    assert tg.calls == [], "no getMe, no setMyCommands, no polling"


async def test_without_platform_tokens_only_the_sidecar_runs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, admin_token=TOKEN, sidecar_port=0)
    async with open_services(settings, llm=FakeLLM()) as services, AsyncExitStack() as stack:
        parts = await start_parts(services, stack)
        assert [part.name for part in parts] == ["sidecar"]
        async with aiohttp.ClientSession() as http, http.get(f"{parts[0].url}/ready") as ready:
            assert await ready.json() == {
                "status": "ok",
                "checks": {"store": "ok", "llm": "ok"},
                "backends": {"fake": "ok"},
            }


def test_a_platform_that_is_not_configured_is_never_imported() -> None:
    # A fresh interpreter: this one has discord.py loaded by other tests.
    code = (
        "import sys; from nono.bot import options, runner; from nono.bot.settings import Settings;"
        "s = Settings(_env_file=None, telegram_token='1:x');"
        "options.http_options(s); options.telegram_options(s);"
        "print('discord' in sys.modules, 'telegram' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "True"]
