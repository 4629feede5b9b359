"""Polling and webhook modes, and start-up refusals an operator would hit."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from nono.adapters import telegram
from nono.adapters.http import create_sidecar_app
from nono.bot.options import http_options, telegram_options
from nono.core.chat import ChatService
from nono.core.errors import ConfigError
from nono.core.llm.fake import FakeLLM
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE, BOB

WEBHOOK = {
    "telegram_webhook_url": "https://bot.example.org/telegram/webhook",
    "telegram_webhook_secret": "s3cret-Token_42",
    "admin_token": "webhook-mode-admin-token",  # webhook mode requires one
}
HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def test_polling_reports_health_and_cleans_up(tg: FakeTelegram, telegram_bot):
    async with telegram_bot() as part:
        assert (part.name, part.healthy()) == ("telegram", True)
        assert part.feed is None, "polling mode takes no webhook calls"
    assert part.healthy() is False
    assert tg.calls_to("deleteWebhook"), "polling starts by making sure no webhook is set"


async def test_webhook_mode_processes_updates_fed_by_the_sidecar(tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM):
    fake_llm.enqueue("Hello from a webhook.")
    async with telegram_bot(**WEBHOOK) as part:
        assert tg.webhook == {
            "url": WEBHOOK["telegram_webhook_url"],
            "secret_token": WEBHOOK["telegram_webhook_secret"],
            "allowed_updates": ["message", "callback_query"],
        }
        assert part.healthy() is True
        assert part.feed is not None
        await part.feed(tg.make_update(tg.users[ALICE], tg.chats[ALICE], "hi"))
        await tg.wait_for(lambda: tg.shown(ALICE))
    assert part.healthy() is False
    assert tg.shown(ALICE) == ["Hello from a webhook."]
    assert not tg.calls_to("getUpdates"), "no polling in webhook mode"


async def test_webhook_route_checks_the_secret_before_anything_is_processed(
    tg: FakeTelegram, telegram_bot, telegram_settings, chat: ChatService, fake_llm: FakeLLM, aiohttp_client
):
    fake_llm.enqueue("Only the real Telegram gets an answer.")
    async with telegram_bot(**WEBHOOK) as part:
        # Wired as `nono run` wires it: the Telegram part's feed handed to the HTTP adapter.
        options = http_options(telegram_settings(**WEBHOOK))
        client = await aiohttp_client(create_sidecar_app(chat, options, parts=[part], telegram_feed=part.feed))
        forged = tg.make_update(tg.users[BOB], tg.chats[BOB], "forged")
        missing = await client.post("/telegram/webhook", json=forged)
        wrong = await client.post("/telegram/webhook", json=forged, headers={HEADER: "guess"})
        genuine = tg.make_update(tg.users[ALICE], tg.chats[ALICE], "real")
        ok = await client.post("/telegram/webhook", json=genuine, headers={HEADER: WEBHOOK["telegram_webhook_secret"]})
        await tg.wait_for(lambda: tg.shown(ALICE))

    assert (missing.status, wrong.status, ok.status) == (403, 403, 200)
    assert tg.shown(BOB) == [] and len(fake_llm.history) == 1
    assert [m.content for m in fake_llm.history[0].messages[1:]] == ["real"]


async def test_webhook_without_a_secret_is_refused_at_start_up(tg: FakeTelegram, telegram_settings, chat):
    with pytest.raises(ValidationError, match="TELEGRAM_WEBHOOK_SECRET is required"):
        telegram_settings(telegram_webhook_url=WEBHOOK["telegram_webhook_url"])

    settings = telegram_settings(**WEBHOOK)
    # Settings built some other way (model_copy skips validation) must not slip through either.
    for secret in (None, SecretStr("")):
        unchecked = settings.model_copy(update={"telegram_webhook_secret": secret})
        with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
            async with telegram.running(chat, telegram_options(unchecked)):
                pytest.fail("started without a webhook secret")
    assert tg.calls == [], "nothing was sent to Telegram"


async def test_telegram_refusals_at_start_up_are_configuration_errors(tg: FakeTelegram, telegram_bot):
    with pytest.raises(ConfigError, match="TELEGRAM_TOKEN"):
        async with telegram_bot(telegram_token="999:not-the-token"):
            pytest.fail("started with a token Telegram refused")
    with pytest.raises(ConfigError, match="cannot reach the Telegram Bot API"):
        async with telegram_bot(telegram_base_url="http://127.0.0.1:1/bot"):
            pytest.fail("started without reaching Telegram")
    plain_http = {**WEBHOOK, "telegram_webhook_url": "http://bot.example.org/telegram/webhook"}
    with pytest.raises(ConfigError, match=r"(?i)an https url must be provided"):
        async with telegram_bot(**plain_http):
            pytest.fail("started with a webhook Telegram refused")
