"""/link and /unlink on Discord: ephemeral answers, with Confirm and Cancel as buttons.

The flow and its words are the core's (`nono.core.link_commands`); this module adds the buttons.
Unlike typed commands elsewhere, these work in servers as well as in DMs: a slash command's
options are never shown to anyone else and every answer here is ephemeral, so a code stays private
wherever it is typed (and with DISCORD_GUILD_IDS, slash commands exist in those servers only).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import discord
from discord import app_commands

from nono.adapters.discord.access import person_of
from nono.adapters.discord.commands import CommandCog, answer
from nono.adapters.discord.render import NO_MENTIONS, failure_text
from nono.core.link_commands import NOT_LINKED, code_word
from nono.core.linking import CODE_TTL
from nono.core.people import Speaker

log = logging.getLogger(__name__)

Action = Callable[[], Awaitable[str]]


class LinkSlashCommands(CommandCog):
    """/link [CODE] and /unlink."""

    @app_commands.command(name="link", description="Join your private chats with me here and on another platform")
    @app_commands.describe(code="The code /link gave you on your other platform (leave empty to get one)")
    async def link(self, interaction: discord.Interaction, code: app_commands.Range[str, 1, 64] | None = None) -> None:
        # Defer first: the store may be slow, and Discord drops interactions unanswered after 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        speaker, links = account(interaction.user), self.actions.links
        word = code_word(code or "")
        if word is not None:  # `/link yes|no`, the buttons' answer typed: never count it as a wrong code
            await answer(interaction, await links.answer(speaker, word))
            return
        asked = await links.link(speaker, code)
        if asked.proposal is None:
            await answer(interaction, asked.text)
            return
        proposal_id = asked.proposal.id
        confirm, cancel = partial(links.confirm, speaker, proposal_id), partial(links.cancel, speaker, proposal_id)
        await Buttons(interaction.user.id, confirm, cancel).show(interaction, asked.text)

    @app_commands.command(name="unlink", description="Undo /link: your private chats here and there split again")
    async def unlink(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        speaker, links = account(interaction.user), self.actions.links
        question = await links.unlink_question(speaker)
        if question is None:
            await answer(interaction, NOT_LINKED)
            return
        await Buttons(interaction.user.id, partial(links.unlink, speaker)).show(interaction, question)


def account(user: discord.abc.User) -> Speaker:
    """The account as the other platform will be told its name: the account's own name, never a server nickname."""
    return Speaker.of(person_of(user), user.global_name or user.name)


class Buttons(discord.ui.View):
    """Confirm (and Cancel, when there is something to cancel) under one ephemeral question.

    A press calls the core and replaces the question with its answer, buttons gone. Only the
    person who asked may press: the message is ephemeral, and the check makes sure of it.
    """

    def __init__(self, owner: int, confirm: Action, cancel: Action | None = None) -> None:
        # A proposal lives CODE_TTL seconds; after that a press could only say "expired".
        super().__init__(timeout=CODE_TTL)
        self.owner = owner
        self._confirm = confirm
        self._cancel = cancel
        self.message: discord.WebhookMessage | None = None
        if cancel is None:
            self.remove_item(self.cancel_button)

    async def show(self, interaction: discord.Interaction, text: str) -> None:
        """Answer the (deferred) command with `text` and these buttons."""
        self.message = await interaction.followup.send(
            text, view=self, ephemeral=True, allowed_mentions=NO_MENTIONS, wait=True
        )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Only the person who asked: they are the one the answer is about."""
        return interaction.user.id == self.owner

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.success)
    async def confirm_button(self, interaction: discord.Interaction, button: discord.ui.Button[Buttons]) -> None:
        await self._press(interaction, self._confirm)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel_button(self, interaction: discord.Interaction, button: discord.ui.Button[Buttons]) -> None:
        assert self._cancel is not None  # the button is only shown with something to cancel
        await self._press(interaction, self._cancel)

    async def _press(self, interaction: discord.Interaction, action: Action) -> None:
        self.stop()  # one answer per question: a second press must not act again
        await interaction.response.defer()  # joining histories may take longer than Discord's 3 s
        await interaction.edit_original_response(content=await action(), view=None)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]) -> None:
        """The buttons' one place where a failure (an expired request, the store down) becomes the answer."""
        text = failure_text(error)
        try:
            if interaction.response.is_done():
                await interaction.edit_original_response(content=text, view=None)
            else:
                await interaction.response.edit_message(content=text, view=None)
        except discord.HTTPException as exc:
            log.warning("discord_button_answer_failed", extra={"status": exc.status, "code": exc.code})

    async def on_timeout(self) -> None:
        if self.message is None:
            return
        try:
            await self.message.edit(view=None)
        except discord.HTTPException as exc:  # the ephemeral message was dismissed, or Discord trouble
            log.info("discord_buttons_not_removed", extra={"status": exc.status})
