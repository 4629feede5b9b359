"""Replayed updates: Telegram sends an update again when a delivery was not confirmed; it is answered once.

The check runs in handler group -1, before every other handler, for updates from the webhook and
from polling alike. A replay is acknowledged as usual (the webhook still answers 200, polling moves
past it) and ignored; the store remembers update ids across restarts and processes (`nono.core.replays`).
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, TypeHandler

from nono.core.replays import Replays

#: Before the handlers (group 0 and up): a replay never reaches them.
REPLAY_GROUP = -1


def skip_replays(app: Application, replays: Replays) -> None:
    """Make `app` ignore updates it has seen before (by this bot's update id)."""

    async def check(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # update_id counts per bot, so the bot's id makes the event id unique on a shared store.
        if await replays.is_replay(f"telegram:update:{context.bot.id}:{update.update_id}"):
            raise ApplicationHandlerStop

    app.add_handler(TypeHandler(Update, check), group=REPLAY_GROUP)
