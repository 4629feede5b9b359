"""/link and /unlink on Telegram: the core's words, with inline buttons to confirm.

Private chats only (the core refuses elsewhere, so nobody else sees a code). A proposal comes
with [Confirm ✓] [Cancel] buttons carrying its id (`link:yes:<id>`, well under Telegram's 64
bytes); /unlink asks first, with [Unlink] [Keep]. A tap replaces the question with the outcome,
so the buttons cannot be tapped twice. Codes are never logged: only the core sees them.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from nono.adapters.telegram.gate import Gate
from nono.core.link_commands import NOT_LINKED, LinkCommands, require_private
from nono.core.linking import Proposal
from nono.core.wording import LINK_KEPT

LINK_DATA = "link:"
UNLINK_DATA = "unlink:"
#: The answer to [Keep] under an /unlink question.
Context = ContextTypes.DEFAULT_TYPE


class LinkHandlers:
    """The /link and /unlink commands and their buttons."""

    def __init__(self, links: LinkCommands, gate: Gate) -> None:
        self.links = links
        self.gate = gate

    def register(self, app: Application) -> None:
        """Add the button handlers (the commands are registered with the others, behind the same filters)."""
        app.add_handler(CallbackQueryHandler(self.on_link_button, pattern=f"^{LINK_DATA}"))
        app.add_handler(CallbackQueryHandler(self.on_unlink_button, pattern=f"^{UNLINK_DATA}"))

    async def on_link(self, update: Update, context: Context) -> None:
        """/link: a code, or the proposal waiting to be confirmed; /link CODE: propose."""
        if (asker := await self.gate.admit(update)) is None:
            return
        require_private(asker.conversation.private)
        answer = await self.links.link(asker.speaker, " ".join(context.args or ()) or None)
        markup = _proposal_buttons(answer.proposal) if answer.proposal is not None else None
        await self.gate.answer(asker.message, answer.text, markup)

    async def on_unlink(self, update: Update, context: Context) -> None:
        """/unlink: ask first, with buttons; nothing changes until [Unlink] is tapped."""
        if (asker := await self.gate.admit(update)) is None:
            return
        require_private(asker.conversation.private)
        question = await self.links.unlink_question(asker.speaker)
        if question is None:
            await self.gate.answer(asker.message, NOT_LINKED)
            return
        buttons = [_button("Unlink", f"{UNLINK_DATA}yes"), _button("Keep", f"{UNLINK_DATA}no")]
        await self.gate.answer(asker.message, question, InlineKeyboardMarkup([buttons]))

    async def on_link_button(self, update: Update, context: Context) -> None:
        """[Confirm ✓] or [Cancel] under a proposal."""
        query = update.callback_query
        if query is None or (asker := await self.gate.admit_press(query)) is None:
            return
        require_private(asker.conversation.private)
        verb, _, proposal_id = (query.data or "").removeprefix(LINK_DATA).partition(":")
        if verb == "yes":
            text = await self.links.confirm(asker.speaker, proposal_id)
        else:
            text = await self.links.cancel(asker.speaker, proposal_id)
        await self.gate.settle(query, text)

    async def on_unlink_button(self, update: Update, context: Context) -> None:
        """[Unlink] or [Keep] under the /unlink question."""
        query = update.callback_query
        if query is None or (asker := await self.gate.admit_press(query)) is None:
            return
        require_private(asker.conversation.private)
        confirmed = (query.data or "").removeprefix(UNLINK_DATA) == "yes"
        await self.gate.settle(query, await self.links.unlink(asker.speaker) if confirmed else LINK_KEPT)


def _proposal_buttons(proposal: Proposal) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[_button("Confirm ✓", f"{LINK_DATA}yes:{proposal.id}"), _button("Cancel", f"{LINK_DATA}no:{proposal.id}")]]
    )


def _button(label: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=data)
