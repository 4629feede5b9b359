"""Compose the running parts (terminal, bots, sidecar) in one event loop, and stop them cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from nono.adapters.parts import Part
from nono.bot.services import Services, open_services
from nono.bot.settings import Settings

log = logging.getLogger(__name__)


async def run_chat(settings: Settings, user_id: str) -> None:
    """The terminal REPL on the configured store and model."""
    from nono.adapters import terminal

    async with (
        open_services(settings) as services,
        terminal.running(services.chat, terminal.TerminalOptions(user_id)) as part,
    ):
        await part.finished()


async def run_sidecar(settings: Settings) -> None:
    """Only the HTTP sidecar, until SIGINT/SIGTERM."""
    from nono.adapters import http
    from nono.bot.options import http_options

    async with open_services(settings) as services, http.running(services.chat, http_options(settings)):
        await wait_for_stop_signal()
        await services.chat.shutdown(settings.shutdown_grace)


async def run_bots(settings: Settings) -> None:
    """Every configured platform adapter plus the sidecar, until SIGINT/SIGTERM."""
    async with open_services(settings) as services, AsyncExitStack() as stack:
        await start_parts(services, stack)
        await wait_for_stop_signal()
        log.info("shutting_down", extra={"grace": settings.shutdown_grace})
        # Finish (or store as incomplete) the replies in flight while the adapters can still deliver them.
        await services.chat.shutdown(settings.shutdown_grace)


async def start_parts(services: Services, stack: AsyncExitStack) -> list[Part]:
    """Enter each platform adapter whose token is set, then the sidecar that reports on them.

    The platforms start first so the sidecar can be handed what it serves for them: their health
    for /ready, and in webhook mode the Telegram feed behind /telegram/webhook (Telegram retries a
    delivery that arrives before the sidecar listens). The stack closes the sidecar first.
    The sidecar's metrics are built first too: each platform counts its 429s in them.
    """
    # Imported here, like each adapter: `nono chat` loads no platform SDK.
    from nono.adapters import http
    from nono.bot.options import discord_options, http_options, telegram_options

    settings = services.settings
    sidecar_options = http_options(settings)
    # Before any platform is contacted (setWebhook included): an admin API exposed without a proper token.
    http.check_exposure(sidecar_options, webhook=settings.telegram_webhook_url is not None)
    metrics = http.SidecarMetrics(services.chat)
    platforms: list[Part] = []
    telegram_feed = None
    if settings.telegram_token is not None:
        from nono.adapters import telegram

        counted = metrics.count_rate_limited("telegram")
        part = await stack.enter_async_context(
            telegram.running(services.chat, telegram_options(settings), on_rate_limited=counted)
        )
        telegram_feed = part.feed
        platforms.append(part)
    if settings.discord_token is not None:
        from nono.adapters import discord

        counted = metrics.count_rate_limited("discord")
        bot = discord.running(services.chat, discord_options(settings), on_rate_limited=counted)
        platforms.append(await stack.enter_async_context(bot))
    if not platforms:
        log.warning("no_platform_configured", extra={"hint": "set DISCORD_TOKEN and/or TELEGRAM_TOKEN"})
    sidecar = http.running(
        services.chat, sidecar_options, parts=platforms, telegram_feed=telegram_feed, metrics=metrics
    )
    parts: list[Part] = [await stack.enter_async_context(sidecar), *platforms]
    log.info("running", extra={"parts": [part.name for part in parts]})
    return parts


async def wait_for_stop_signal() -> None:
    """Return on SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
