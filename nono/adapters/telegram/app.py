"""The Telegram adapter: python-telegram-bot in Nono's event loop, by long polling or webhook.

`build_telegram_application` wires the handlers; `running` is the long-lived part `nono run`
enters: initialize/start (never `run_polling`, which would own the loop), then either the
updater's long polling (one process at a time: `poll_lead`), or webhook mode, where the part's
`feed` takes updates: the runner hands it to the HTTP adapter, whose /telegram/webhook route checks
Telegram's secret header (the web app owns the route, as in PTB's custom-webhook examples; no second
web server).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from telegram import Update
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder

from nono.adapters.parts import Feed
from nono.adapters.telegram.access import TelegramAccess
from nono.adapters.telegram.gate import Gate
from nono.adapters.telegram.handlers import BOT_COMMANDS, TelegramHandlers
from nono.adapters.telegram.managers import ChatManagers
from nono.adapters.telegram.options import TelegramOptions
from nono.adapters.telegram.order import ConversationOrder
from nono.adapters.telegram.outbox import Outbox
from nono.adapters.telegram.pacing import ChatPacer, retry_after_seconds
from nono.adapters.telegram.poll_lead import PollLead
from nono.adapters.telegram.recovery import notify
from nono.adapters.telegram.replays import skip_replays
from nono.adapters.telegram.request import AiohttpRequest
from nono.core.chat import ChatService
from nono.core.errors import ConfigError
from nono.core.replays import Replays

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
#: Long-polling wait: Telegram holds getUpdates open this long when nothing happens.
POLL_TIMEOUT = 25
STARTUP_ATTEMPTS = 3
#: Where the application keeps its outbox (in bot_data), for the parts that write outside a handler.
OUTBOX = "nono.outbox"
T = TypeVar("T")


def build_telegram_application(
    chat: ChatService, options: TelegramOptions, *, on_rate_limited: Callable[[], None] | None = None
) -> Application:
    """The PTB Application for Nono: handlers, per-conversation ordering, the configured Bot API server.

    `on_rate_limited` is called on each 429 (flood wait) Telegram answers a reply's request with.
    """
    access = TelegramAccess(options.allowed_users, options.allowed_chats, options.memory_scope)
    builder = (
        ApplicationBuilder()
        .token(options.token.get_secret_value())
        .base_url(options.base_url)
        .concurrent_updates(ConversationOrder(access.conversation_of))
        .request(AiohttpRequest())
    )
    if options.webhook:
        builder = builder.updater(None)  # updates arrive through the HTTP adapter instead
    app = builder.build()
    pacer = ChatPacer(options.edit_interval, global_rate=options.global_rate, on_flood_wait=on_rate_limited)
    outbox = Outbox(app.bot, pacer)
    app.bot_data[OUTBOX] = outbox
    gate = Gate(access, outbox, ChatManagers(app.bot))
    skip_replays(app, Replays(chat.store))
    TelegramHandlers(chat, gate, upload_limit=options.upload_limit).register(app)
    return app


@dataclass(frozen=True)
class TelegramPart:
    """The running Application; in webhook mode `feed` takes the updates Telegram posts, else `lead` polls."""

    app: Application
    feed: Feed | None
    lead: PollLead | None = None
    name: str = "telegram"

    def healthy(self) -> bool:
        """Running, and taking updates: by webhook, by polling, or ready to poll as a follower."""
        if not self.app.running:
            return False
        if self.feed is not None:
            return True
        if self.lead is None or not self.lead.alive():
            return False
        updater = self.app.updater
        return not self.lead.leading or bool(updater and updater.running)  # a follower waits for its turn


@asynccontextmanager
async def running(
    chat: ChatService, options: TelegramOptions, *, on_rate_limited: Callable[[], None] | None = None
) -> AsyncIterator[TelegramPart]:
    """Run the bot until the block exits: polling by default, webhook mode when `webhook_url` is set.

    `on_rate_limited` is called on each flood wait (429) Telegram asks for while the bot replies.
    """
    secret = options.webhook_secret
    if options.webhook and (secret is None or not secret.get_secret_value()):
        raise ConfigError(
            "TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not: refusing to accept unauthenticated "
            "webhook calls. Set a random secret (1-256 characters: A-Z, a-z, 0-9, _ and -)."
        )
    app = build_telegram_application(chat, options, on_rate_limited=on_rate_limited)
    await _initialize(app, options)
    try:
        await _call_telegram(lambda: app.bot.set_my_commands(BOT_COMMANDS), "setMyCommands")
        await app.start()
        async with AsyncExitStack() as polling:  # stops polling and frees the lead before the app stops
            feed, lead = None, None
            if options.webhook:
                feed = await _start_webhook(app, options)
            else:
                lead = await polling.enter_async_context(_poll_lead(app, chat, options))
            mode = {"mode": "polling", "leading": lead.leading} if lead else {"mode": "webhook"}
            log.info("telegram_running", extra={"bot": app.bot.username, **mode})
            outbox: Outbox = app.bot_data[OUTBOX]
            # Replies a crashed process (this one, before a restart) was showing: end them honestly.
            recovery = asyncio.create_task(chat.deliveries.watch("telegram", partial(notify, outbox)))
            try:
                yield TelegramPart(app, feed, lead)
            finally:
                recovery.cancel()
                await asyncio.gather(recovery, return_exceptions=True)
    finally:
        await _stop(app)


def _poll_lead(app: Application, chat: ChatService, options: TelegramOptions) -> PollLead:
    """Long polling while this process holds the store's polling lead (named like its in-flight replies)."""
    updater = app.updater
    assert updater is not None  # built with one unless in webhook mode
    start = partial(
        updater.start_polling, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES, error_callback=_polling_failed
    )
    return PollLead(chat.store.leads, chat.deliveries.owner, options.lock_lease, start=start, stop=updater.stop)


def _polling_failed(exc: TelegramError) -> None:
    """PTB retries getUpdates by itself (Telegram down, network cut): one line per failure, no traceback."""
    log.warning("telegram_polling_failed", extra={"error": str(exc)})


async def _initialize(app: Application, options: TelegramOptions) -> None:
    """getMe and friends; a refused token or unreachable server is an operator problem, said plainly."""
    try:
        await app.initialize()
    except (InvalidToken, NetworkError) as exc:
        # A failed initialize leaves the Application uninitialized, so shutdown() would skip
        # the HTTP client that made the failed getMe: close it here.
        await app.bot.request.shutdown()
        if isinstance(exc, InvalidToken):
            raise ConfigError(f"Telegram refused TELEGRAM_TOKEN ({exc.message}); check it with @BotFather") from exc
        raise ConfigError(f"cannot reach the Telegram Bot API at {options.base_url}: {exc.message}") from exc


async def _start_webhook(app: Application, options: TelegramOptions) -> Feed:
    """Register the webhook with Telegram; return what feeds the updates it posts to the Application."""

    async def feed(data: dict[str, Any]) -> None:
        """One update from the HTTP adapter, through the same handlers and per-conversation order as polling."""
        try:
            update = Update.de_json(data, app.bot)
        except (KeyError, TypeError, ValueError) as exc:  # Telegram would resend it forever: log and drop
            log.warning("telegram_webhook_bad_update", extra={"error": repr(exc)})
            return
        # Handled here, not queued, so Telegram's 200 comes once a message is in line: the next update of its
        # conversation, whichever worker it reaches, is then behind it. The handlers return quickly: a reply
        # streams in its own task.
        await app.update_processor.process_update(update, app.process_update(update))

    assert options.webhook_url is not None and options.webhook_secret is not None  # checked by `running`
    # Every worker process registers the same URL and secret: setWebhook is idempotent, so no lead is needed.
    url, secret = options.webhook_url, options.webhook_secret.get_secret_value()
    await _call_telegram(
        lambda: app.bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES), "setWebhook"
    )
    return feed


async def _call_telegram(make_call: Callable[[], Awaitable[T]], what: str) -> T:
    """A start-up call: flood waits are honoured a few times; a refusal is a configuration error."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await make_call()
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc)
            if attempt >= STARTUP_ATTEMPTS:
                raise ConfigError(f"Telegram keeps asking to wait before {what} ({seconds:.0f} s); try later") from exc
            log.warning("telegram_flood_wait", extra={"call": what, "retry_after": seconds})
            await asyncio.sleep(seconds)
        except BadRequest as exc:
            raise ConfigError(f"Telegram refused {what}: {exc.message}") from exc


async def _stop(app: Application) -> None:
    """Stop polling, let handlers and replies in flight finish, release the HTTP clients."""
    try:
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
    except TelegramError as exc:  # shutting down anyway: say what failed, keep releasing
        log.warning("telegram_stop_failed", extra={"error": str(exc)})
    finally:
        await app.shutdown()
