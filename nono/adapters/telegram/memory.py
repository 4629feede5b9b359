"""/remember, /memory, /forget, /export and /forget_me on Telegram: the core's words, a file, and buttons.

The fact commands work wherever the person talks to Nono; in a group everyone shares, changing
its facts is for the group's administrators, as /reset is (the core refuses others). /export
and /forget_me concern one person, so they work in a private chat only: the export arrives
there as a document (gzip-compressed when too big for Telegram), and /forget_me asks first,
with [Erase everything] [Cancel] buttons carrying the core's confirmation id
(`forget_me:yes:<id>`, well under Telegram's 64 bytes), which expires after five minutes.
"""

from __future__ import annotations

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from nono.adapters.telegram.gate import Gate
from nono.adapters.telegram.options import UPLOAD_LIMIT
from nono.core.commands import COMMANDS
from nono.core.link_commands import require_private
from nono.core.memory_commands import (
    EXPORT_CAPTION,
    EXPORT_COMPRESSED,
    FORGET_ME_CANCELLED,
    PRIVATE_DATA_ONLY,
    MemoryCommands,
)
from nono.core.personal_data import ExportFile

FORGET_ME_DATA = "forget_me:"
ERASE_LABEL = "Erase everything"
#: The answer to someone pressing a /forget_me button they were not asked.
NOT_YOURS = "This isn't your button."
#: Their entries in the menu Telegram shows next to the text box, worded by the core.
MEMORY_COMMANDS = [BotCommand(name, COMMANDS[name]) for name in ("remember", "memory", "forget", "export", "forget_me")]
Context = ContextTypes.DEFAULT_TYPE


class MemoryHandlers:
    """The memory commands and the /forget_me buttons."""

    def __init__(self, memory: MemoryCommands, gate: Gate, upload_limit: int = UPLOAD_LIMIT) -> None:
        self.memory = memory
        self.personal_data = memory.chat.personal_data
        self.gate = gate
        self.upload_limit = upload_limit

    def register(self, app: Application) -> None:
        """Add the button handler (the commands are registered with the others, behind the same filters)."""
        app.add_handler(CallbackQueryHandler(self.on_forget_me_button, pattern=f"^{FORGET_ME_DATA}"))

    async def on_remember(self, update: Update, context: Context) -> None:
        """/remember TEXT: a fact for this conversation."""
        if (asker := await self.gate.admit(update)) is not None:
            manager = await self.gate.manages(asker)
            text = " ".join(context.args or ())
            answer = await self.memory.remember(asker.conversation, text, asker.speaker, manager=manager)
            await self.gate.answer(asker.message, answer)

    async def on_memory(self, update: Update, context: Context) -> None:
        """/memory: the facts and the summary; anyone in the conversation may look."""
        if (asker := await self.gate.admit(update)) is not None:
            await self.gate.answer(asker.message, await self.memory.memory(asker.conversation))

    async def on_forget(self, update: Update, context: Context) -> None:
        """/forget N or /forget all."""
        if (asker := await self.gate.admit(update)) is not None:
            manager = await self.gate.manages(asker)
            which = " ".join(context.args or ())
            await self.gate.answer(asker.message, await self.memory.forget(asker.conversation, which, manager=manager))

    async def on_export(self, update: Update, context: Context) -> None:
        """/export: everything stored about the person, as a file in their private chat."""
        if (asker := await self.gate.admit(update)) is None:
            return
        require_private(asker.conversation.private, PRIVATE_DATA_ONLY)
        export = await self.personal_data.export_file(asker.speaker.person, self.upload_limit)
        caption = EXPORT_COMPRESSED if export.compressed else EXPORT_CAPTION
        await self.gate.outbox.document(asker.chat.id, _input_file(export), caption)

    async def on_forget_me(self, update: Update, context: Context) -> None:
        """/forget_me: ask first, with buttons; nothing is erased until [Erase everything] is pressed."""
        if (asker := await self.gate.admit(update)) is None:
            return
        require_private(asker.conversation.private, PRIVATE_DATA_ONLY)
        token = await self.personal_data.ask(asker.speaker.person)
        question = self.memory.forget_me_question(f"Press {ERASE_LABEL}")
        await self.gate.answer(asker.message, question, _forget_me_buttons(token))

    async def on_forget_me_button(self, update: Update, context: Context) -> None:
        """[Erase everything] or [Cancel] under the question; a late press gets the core's refusal."""
        query = update.callback_query
        if query is None or (asker := await self.gate.admit_press(query)) is None:
            return
        if asker.user.id != asker.chat.id:  # a private chat's id is its person's user id: the buttons are theirs
            await query.answer(NOT_YOURS)
            return
        verb, _, token = (query.data or "").removeprefix(FORGET_ME_DATA).partition(":")
        if verb == "yes":
            text = self.memory.erased(await self.personal_data.confirm(asker.speaker.person, token))
        else:
            await self.personal_data.cancel(asker.speaker.person, token)
            text = FORGET_ME_CANCELLED
        await self.gate.settle(query, text)


def _forget_me_buttons(token: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button(ERASE_LABEL, f"{FORGET_ME_DATA}yes:{token}"), _button("Cancel", f"{FORGET_ME_DATA}no:{token}")]]
    )


def _input_file(export: ExportFile) -> InputFile:
    upload = InputFile(export.data, filename=export.name)
    if export.compressed:  # PTB guesses the type from the inner extension: `.json.gz` would go out as JSON
        upload.mimetype = "application/gzip"
    return upload


def _button(label: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=data)
