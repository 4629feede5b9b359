"""/link and /unlink on Discord: ephemeral answers, with Confirm and Cancel as buttons (`buttons.Buttons`).

The flow and its words are the core's (`nono.core.link_commands`); this module adds the buttons.
Unlike typed commands elsewhere, these work in servers as well as in DMs: a slash command's
options are never shown to anyone else and every answer here is ephemeral, so a code stays private
wherever it is typed (and with DISCORD_GUILD_IDS, slash commands exist in those servers only).
"""

from __future__ import annotations

from functools import partial

import discord
from discord import app_commands

from nono.adapters.discord.access import person_of
from nono.adapters.discord.buttons import Buttons
from nono.adapters.discord.commands import CommandCog, answer
from nono.core.link_commands import NOT_LINKED, code_word
from nono.core.linking import CODE_TTL
from nono.core.people import Speaker


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
        # A proposal lives CODE_TTL seconds; after that a press could only say "expired".
        await Buttons(interaction.user.id, confirm, cancel, timeout=CODE_TTL).show(interaction, asked.text)

    @app_commands.command(name="unlink", description="Undo /link: your private chats here and there split again")
    async def unlink(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        speaker, links = account(interaction.user), self.actions.links
        question = await links.unlink_question(speaker)
        if question is None:
            await answer(interaction, NOT_LINKED)
            return
        await Buttons(interaction.user.id, partial(links.unlink, speaker), timeout=CODE_TTL).show(interaction, question)


def account(user: discord.abc.User) -> Speaker:
    """The account as the other platform will be told its name: the account's own name, never a server nickname."""
    return Speaker.of(person_of(user), user.global_name or user.name)
