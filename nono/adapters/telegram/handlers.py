"""Telegram updates → core calls. Translation only: the wording lives in nono.core.commands.

Text messages start a turn with `chat.stream(...)` before any await, so the core gives each
conversation's messages their place in line in arrival order; the reply then streams in its own
task. Errors from any handler or reply reach `on_error`, the one place they become replies.
"""

from __future__ import annotations

import logging

from telegram import BotCommand, Chat, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from nono.adapters.telegram.access import FROM_PEOPLE, addressed_text, topic_of
from nono.adapters.telegram.gate import Gate, reply_to
from nono.adapters.telegram.links import LinkHandlers
from nono.adapters.telegram.memory import MEMORY_COMMANDS, MemoryHandlers
from nono.adapters.telegram.options import UPLOAD_LIMIT
from nono.adapters.telegram.quotes import quotes_of
from nono.adapters.telegram.stream import deliver
from nono.core.chat import ChatService
from nono.core.commands import Commands
from nono.core.errors import UserFacingError
from nono.core.people import Conversation
from nono.core.wording import GENERIC_ERROR

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
    BotCommand("models", "list the models, the one answering here marked"),
    BotCommand("reset", "forget our conversation"),
    BotCommand("history", "show recent messages (/history COUNT)"),
    *MEMORY_COMMANDS,
    BotCommand("link", "join your private chats with me on another platform"),
    BotCommand("unlink", "undo /link"),
]
Context = ContextTypes.DEFAULT_TYPE


class TelegramHandlers:
    """The handlers of one Application, sharing the core and the gate (access, managers, outbox)."""

    def __init__(self, chat: ChatService, gate: Gate, *, upload_limit: int = UPLOAD_LIMIT) -> None:
        self.chat = chat
        self.commands = Commands(chat)
        self.gate = gate
        self.links = LinkHandlers(self.commands.links, gate)
        self.memory = MemoryHandlers(self.commands.memory, gate, upload_limit)

    def register(self, app: Application) -> None:
        """Add every handler and the error handler to `app`."""
        commands = {
            "start": self.on_start,
            "help": self.on_help,
            "persona": self.on_persona,
            "personas": self.on_persona,
            "models": self.on_models,
            "reset": self.on_reset,
            "history": self.on_history,
            "remember": self.memory.on_remember,
            "memory": self.memory.on_memory,
            "forget": self.memory.on_forget,
            "export": self.memory.on_export,
            "forget_me": self.memory.on_forget_me,
            "link": self.links.on_link,
            "unlink": self.links.on_unlink,
        }
        for name, callback in commands.items():
            app.add_handler(CommandHandler(name, callback, filters=FROM_PEOPLE))
        app.add_handler(MessageHandler(FROM_PEOPLE & filters.COMMAND, self.on_unknown_command))
        app.add_handler(MessageHandler(FROM_PEOPLE & filters.TEXT, self.on_text))
        app.add_handler(MessageHandler(FROM_PEOPLE & filters.ChatType.PRIVATE & ~filters.TEXT, self.on_other))
        app.add_handler(CallbackQueryHandler(self.on_persona_button, pattern=f"^{PERSONA_DATA}"))
        self.links.register(app)
        self.memory.register(app)
        app.add_error_handler(self.on_error)

    # -- messages ---------------------------------------------------------------------------

    async def on_text(self, update: Update, context: Context) -> None:
        """A message for the bot: start the turn now (place in line), stream the reply in a task."""
        message = update.message
        if message is None or (text := addressed_text(message, context.bot.bot)) is None:
            return
        # admit awaits only to refuse: an allowed turn still takes its place in line before anything awaits.
        if (asker := await self.gate.admit(update)) is None:
            return
        topic = topic_of(message)
        metadata = {"chat_id": message.chat.id, "message_id": message.message_id, "from_id": asker.user.id}
        if topic is not None:
            metadata["topic_id"] = topic
        answering = reply_to(message)
        place = {"chat_id": message.chat.id, "thread_id": topic, "reply_to": answering}
        reply = self.chat.stream(
            asker.conversation, text, speaker=asker.speaker, quotes=quotes_of(message), metadata=metadata, place=place
        )
        context.application.create_task(
            deliver(reply, self.gate.outbox, message.chat.id, reply_to=answering, thread_id=topic),
            update=update,
            name=f"nono:telegram:reply:{message.chat.id}:{message.message_id}",
        )
        # Across processes, this message is in line once its seat is taken: the next one of the conversation
        # (here, or at a webhook worker this one acknowledges first) comes after it. Immediate with one process.
        await reply.entered()

    async def on_other(self, update: Update, context: Context) -> None:
        """A photo, sticker, voice note… in a private chat: say what we can read."""
        if update.message and self.gate.access.allows(update.effective_user, update.message.chat):
            await self.gate.outbox.notice(update.message.chat.id, TEXT_ONLY)

    # -- commands ---------------------------------------------------------------------------

    async def on_start(self, update: Update, context: Context) -> None:
        if (asker := await self.gate.admit(update)) is not None:
            greeting = await self.commands.greeting(asker.conversation)
            await self.gate.answer(asker.message, f"{greeting}\n\n{self.commands.help()}")

    async def on_help(self, update: Update, context: Context) -> None:
        if (asker := await self.gate.admit(update)) is not None:
            await self.gate.answer(asker.message, self.commands.help())

    async def on_models(self, update: Update, context: Context) -> None:
        """/models: every backend's models, the one this conversation's persona answers with marked."""
        if (asker := await self.gate.admit(update)) is not None:
            await self.gate.answer(asker.message, await self.commands.models(asker.conversation))

    async def on_reset(self, update: Update, context: Context) -> None:
        """/reset: in a shared group conversation, for the chat's administrators only (the core refuses others)."""
        if (asker := await self.gate.admit(update)) is not None:
            manager = await self.gate.manages(asker)
            await self.gate.answer(asker.message, await self.commands.reset(asker.conversation, manager=manager))

    async def on_history(self, update: Update, context: Context) -> None:
        """/history [COUNT], parsed and worded by the core."""
        if (asker := await self.gate.admit(update)) is not None:
            command = " ".join(["/history", *(context.args or ())])
            answer = await self.commands.dispatch(asker.conversation, command, speaker=asker.speaker)
            await self.gate.answer(asker.message, answer or UNKNOWN_COMMAND)

    async def on_persona(self, update: Update, context: Context) -> None:
        """/persona NAME switches; /persona or /personas alone shows a keyboard of personas."""
        if (asker := await self.gate.admit(update)) is None:
            return
        if context.args and _command(update) == "/persona":
            manager = await self.gate.manages(asker)
            switched = await self.commands.persona(asker.conversation, " ".join(context.args), manager=manager)
            await self.gate.answer(asker.message, switched)
            return
        text = await self.commands.personas(asker.conversation)
        await self.gate.answer(asker.message, text, await self._keyboard(asker.conversation))

    async def on_unknown_command(self, update: Update, context: Context) -> None:
        message = update.message
        if message is None:
            return
        command = _command(update)
        addressed = message.chat.type == Chat.PRIVATE or command.lower().endswith(f"@{context.bot.username.lower()}")
        if addressed and await self.gate.admit(update) is not None:
            await self.gate.answer(message, UNKNOWN_COMMAND)

    async def on_persona_button(self, update: Update, context: Context) -> None:
        """A tap on the persona keyboard: switch, confirm, and mark the new choice on the keyboard."""
        query = update.callback_query
        if query is None or (asker := await self.gate.admit_press(query)) is None:
            return
        name = (query.data or "").removeprefix(PERSONA_DATA)
        switched = await self.commands.persona(asker.conversation, name, manager=await self.gate.manages(asker))
        listing = await self.commands.personas(asker.conversation)
        await query.answer(switched[:200])
        await self.gate.outbox.edit_notice(
            asker.chat.id, asker.message.message_id, listing, await self._keyboard(asker.conversation)
        )

    async def _keyboard(self, conversation: Conversation) -> InlineKeyboardMarkup:
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
                await self.gate.answer(update.effective_message, text)
        except TelegramError:
            log.exception("telegram_error_reply_failed")


def _command(update: Update) -> str:
    """`/persona@MyNonoBot pirate` → `/persona`."""
    text = update.message.text if update.message is not None else None
    return (text or "").split(maxsplit=1)[0].split("@")[0] if text and text.strip() else ""
