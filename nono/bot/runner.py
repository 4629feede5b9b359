"""Compose the running parts (terminal, bots, sidecar) in one event loop, and stop them cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from nono.bot.services import Services, open_services
from nono.bot.settings import Settings

log = logging.getLogger(__name__)


async def run_chat(settings: Settings, user_id: str) -> None:
    """The terminal REPL on the configured store and model."""
    from nono.adapters.terminal import run_terminal

    async with open_services(settings) as services:
        await run_terminal(services.chat, user_id)


async def run_sidecar(settings: Settings) -> None:
    """Only the HTTP sidecar, until SIGINT/SIGTERM."""
    from nono.adapters.http.app import sidecar_running

    async with open_services(settings) as services, sidecar_running(services):
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


async def start_parts(services: Services, stack: AsyncExitStack) -> list[str]:
    """Enter the sidecar and each adapter whose token is set; return their names."""
    from nono.adapters.http.app import sidecar_running

    settings = services.settings
    started = ["sidecar"]
    await stack.enter_async_context(sidecar_running(services))
    if settings.telegram_token is not None:
        from nono.adapters.telegram.app import telegram_running

        await stack.enter_async_context(telegram_running(services))
        started.append("telegram")
    if settings.discord_token is not None:
        from nono.adapters.discord.bot import discord_running

        await stack.enter_async_context(discord_running(services))
        started.append("discord")
    if len(started) == 1:
        log.warning("no_platform_configured", extra={"hint": "set DISCORD_TOKEN and/or TELEGRAM_TOKEN"})
    log.info("running", extra={"parts": started})
    return started


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
