"""Telegram updates → core calls. Translation only: the wording lives in nono.core.commands.

Text messages start a turn with `chat.stream(...)` before any await, so the core gives each
person's messages their place in line in arrival order; the reply then streams in its own
task. Errors from any handler or reply reach `on_error`, the one place they become replies.
"""

from __future__ import annotations

import logging

from telegram import BotCommand, Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from nono.adapters.telegram.access import TelegramAccess, addressed_text
from nono.adapters.telegram.outbox import Outbox
from nono.adapters.telegram.stream import deliver
from nono.core.chat import ChatService
from nono.core.commands import Commands
from nono.core.errors import UserFacingError
from nono.core.wording import GENERIC_ERROR, REFUSAL

log = logging.getLogger(__name__)

TEXT_ONLY = "I can only read text messages for now."
UNKNOWN_COMMAND = "I don't know that command. /help lists what I can do."
PERSONA_DATA = "persona:"
#: The menu Telegram shows next to the text box (setMyCommands).
BOT_COMMANDS = [
    BotCommand("start", "say hello and show how to use me"),
    BotCommand("help", "what I can do"),
    BotCommand("persona", "choose who answers (or /persona NAME)"),
    BotCommand("personas", "list the personas"),
    BotCommand("reset", "forget our conversation"),
    BotCommand("history", "show recent messages (/history COUNT)"),
]
Context = ContextTypes.DEFAULT_TYPE


class TelegramHandlers:
    """The handlers of one Application, sharing the core, the access rules and the outbox."""

    def __init__(self, chat: ChatService, access: TelegramAccess, outbox: Outbox) -> None:
        self.chat = chat
        self.commands = Commands(chat)
        self.access = access
        self.outbox = outbox

    def register(self, app: Application) -> None:
        """Add every handler and the error handler to `app`."""
        commands = {
            "start": self.on_start,
            "help": self.on_help,
            "persona": self.on_persona,
            "personas": self.on_persona,
            "reset": self.on_simple,
            "history": self.on_simple,
        }
        only_new = filters.UpdateType.MESSAGE  # edits of old messages are not new turns
        for name, callback in commands.items():
            app.add_handler(CommandHandler(name, callback, filters=only_new))
        app.add_handler(MessageHandler(only_new & filters.COMMAND, self.on_unknown_command))
        app.add_handler(MessageHandler(only_new & filters.TEXT, self.on_text))
        app.add_handler(MessageHandler(only_new & filters.ChatType.PRIVATE & ~filters.TEXT, self.on_other))
        app.add_handler(CallbackQueryHandler(self.on_persona_button, pattern=f"^{PERSONA_DATA}"))
        app.add_error_handler(self.on_error)

    # -- messages ---------------------------------------------------------------------------

    async def on_text(self, update: Update, context: Context) -> None:
        """A message for the bot: start the turn now (place in line), stream the reply in a task."""
        message = update.message
        user = message.from_user if message else None
        if message is None or user is None:
            return
        text = addressed_text(message, context.bot.bot)
        if text is None:
            return
        if not self.access.allows(user, message.chat):
            await self._refuse(message)
            return
        conversation = self.access.conversation(user, message.chat)
        metadata = {"chat_id": message.chat.id, "message_id": message.message_id, "from_id": user.id}
        reply = self.chat.stream(conversation, self.access.prompt_text(text, user, message.chat), metadata=metadata)
        context.application.create_task(
            deliver(reply, self.outbox, message.chat.id, reply_to=_reply_to(message), thread_id=_thread(message)),
            update=update,
            name=f"nono:telegram:reply:{message.chat.id}:{message.message_id}",
        )

    async def on_other(self, update: Update, context: Context) -> None:
        """A photo, sticker, voice note… in a private chat: say what we can read."""
        if update.message and self.access.allows(update.effective_user, update.message.chat):
            await self.outbox.notice(update.message.chat.id, TEXT_ONLY)

    # -- commands ---------------------------------------------------------------------------

    async def on_start(self, update: Update, context: Context) -> None:
        if (conversation := await self._admit(update)) is not None:
            greeting = await self.commands.greeting(conversation)
            await self._answer(update, f"{greeting}\n\n{self.commands.help()}")

    async def on_help(self, update: Update, context: Context) -> None:
        if await self._admit(update) is not None:
            await self._answer(update, self.commands.help())

    async def on_simple(self, update: Update, context: Context) -> None:
        """/reset and /history: the core's commands, worded by the core."""
        if (conversation := await self._admit(update)) is not None:
            name = _command(update)
            answer = await self.commands.dispatch(conversation, " ".join([name, *(context.args or ())]))
            await self._answer(update, answer or UNKNOWN_COMMAND)

    async def on_persona(self, update: Update, context: Context) -> None:
        """/persona NAME switches; /persona or /personas alone shows a keyboard of personas."""
        if (conversation := await self._admit(update)) is None:
            return
        if context.args and _command(update) == "/persona":
            await self._answer(update, await self.commands.persona(conversation, " ".join(context.args)))
            return
        text = await self.commands.personas(conversation)
        await self._answer(update, text, markup=await self._keyboard(conversation))

    async def on_unknown_command(self, update: Update, context: Context) -> None:
        message = update.message
        if message is None:
            return
        command = _command(update)
        addressed = message.chat.type == Chat.PRIVATE or command.lower().endswith(f"@{context.bot.username.lower()}")
        if addressed and await self._admit(update) is not None:
            await self._answer(update, UNKNOWN_COMMAND)

    async def on_persona_button(self, update: Update, context: Context) -> None:
        """A tap on the persona keyboard: switch, confirm, and mark the new choice on the keyboard."""
        query = update.callback_query
        if query is None:
            return
        message = query.message
        if not isinstance(message, Message):  # too old for Telegram to show us; the tap still counts
            await query.answer()
            return
        if not self.access.allows(query.from_user, message.chat):
            await query.answer(REFUSAL, show_alert=True)
            return
        conversation = self.access.conversation(query.from_user, message.chat)
        switched = await self.commands.persona(conversation, (query.data or "").removeprefix(PERSONA_DATA))
        await query.answer(switched[:200])
        listing = await self.commands.personas(conversation)
        await self.outbox.edit_notice(message.chat.id, message.message_id, listing, await self._keyboard(conversation))

    # -- helpers ----------------------------------------------------------------------------

    async def _admit(self, update: Update) -> str | None:
        """The conversation of a command's sender, or None (after a refusal) when they are not allowed."""
        message, user = update.message, update.effective_user
        if message is None or user is None:
            return None
        if not self.access.allows(user, message.chat):
            await self._refuse(message)
            return None
        return self.access.conversation(user, message.chat)

    async def _refuse(self, message: Message) -> None:
        if self.access.first_refusal(message.from_user, message.chat):
            user_id = message.from_user.id if message.from_user else None
            log.info("telegram_refused", extra={"chat_id": message.chat.id, "from_id": user_id})
            await self.outbox.notice(message.chat.id, REFUSAL, reply_to=_reply_to(message))

    async def _answer(self, update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        message = update.effective_message
        if message is None:  # only ever called for updates that carry a message
            return
        await self.outbox.notice(
            message.chat.id, text, reply_to=_reply_to(message), markup=markup, thread_id=_thread(message)
        )

    async def _keyboard(self, conversation: str) -> InlineKeyboardMarkup:
        current = (await self.chat.get_persona(conversation)).name
        rows = []
        for persona in self.chat.list_personas():
            label = ("✓ " if persona.name == current else "") + persona.display_name
            rows.append([InlineKeyboardButton(label, callback_data=PERSONA_DATA + persona.name)])
        return InlineKeyboardMarkup(rows)

    # -- errors -----------------------------------------------------------------------------

    async def on_error(self, update: object, context: Context) -> None:
        """The one place errors become replies: a user-facing error's own text, else a generic line."""
        exc = context.error
        if isinstance(exc, UserFacingError):
            text = str(exc)
        elif isinstance(exc, TelegramError) and not isinstance(exc, BadRequest):
            # Telegram unreachable, or the user blocked us: a reply would fail the same way.
            log.error("telegram_api_error", exc_info=exc)
            return
        else:
            log.error("telegram_handler_failed", exc_info=exc)
            text = GENERIC_ERROR
        if isinstance(update, Update):
            await self._report(update, text)

    async def _report(self, update: Update, text: str) -> None:
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(text[:200], show_alert=True)
            elif update.effective_message is not None:
                await self._answer(update, text)
        except TelegramError:
            log.exception("telegram_error_reply_failed")


def _reply_to(message: Message) -> int | None:
    """In groups, answers quote the message they answer; in a private chat that is only noise."""
    return None if message.chat.type == Chat.PRIVATE else message.message_id


def _thread(message: Message) -> int | None:
    return message.message_thread_id if message.is_topic_message else None


def _command(update: Update) -> str:
    """`/persona@MyNonoBot pirate` → `/persona`."""
    text = update.message.text if update.message is not None else None
    return (text or "").split(maxsplit=1)[0].split("@")[0] if text and text.strip() else ""
