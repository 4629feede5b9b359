"""/remember, /memory, /forget, /export and /forget_me on Discord.

The words and the rules are the core's (`nono.core.memory_commands`, `nono.core.personal_data`);
this module maps interactions onto them. Every answer is ephemeral. /export and /forget_me work in
a DM only: the export arrives there as a file, and /forget_me asks with buttons only the asker can
press, for as long as the core honours the confirmation.
"""

from __future__ import annotations

import io
from functools import partial

import discord
from discord import app_commands

from nono.adapters.discord.access import person_of, speaker_of
from nono.adapters.discord.buttons import Buttons
from nono.adapters.discord.commands import MAX_CHOICES, CommandCog, answer, is_manager
from nono.core.link_commands import require_private
from nono.core.memory_commands import (
    EXPORT_CAPTION,
    EXPORT_COMPRESSED,
    FORGET_ME_CANCELLED,
    PRIVATE_DATA_ONLY,
    MemoryCommands,
)
from nono.core.personal_data import CONFIRM_TTL

#: Discord lets bots upload 10 MiB per message; stay a little under it for the request's own overhead.
EXPORT_LIMIT = 10_000_000
EXPORT_SENT = "Sent you the file in DMs."
ERASE = "Erase everything"


class MemorySlashCommands(CommandCog):
    """Facts a conversation keeps, and a person's own data."""

    @app_commands.command(name="remember", description="Keep a fact in mind here")
    @app_commands.describe(text="What I should remember, like: I prefer short answers")
    async def remember(self, interaction: discord.Interaction, text: str) -> None:
        speaker, manager = speaker_of(interaction.user), is_manager(interaction)
        memory = self.actions.memory
        await self._run(interaction, lambda conversation: memory.remember(conversation, text, speaker, manager=manager))

    @app_commands.command(name="memory", description="Show the facts I remember here and my summary of earlier talk")
    async def memory(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, self.actions.memory.memory)

    @app_commands.command(name="forget", description="Remove a fact: its number in /memory, or all of them")
    @app_commands.describe(which="The fact's number in /memory, or all")
    async def forget(self, interaction: discord.Interaction, which: app_commands.Range[str, 1, 20]) -> None:
        manager, memory = is_manager(interaction), self.actions.memory
        await self._run(interaction, lambda conversation: memory.forget(conversation, which, manager=manager))

    @forget.autocomplete("which")
    async def fact_numbers(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The facts /memory would list, by number, and `all`; those matching what was typed so far."""
        # Autocomplete skips command checks, and facts are not for people the allowlists keep out.
        if not await self.interaction_check(interaction):
            return []
        view = await self.chat.facts.view(self.conversation(interaction))
        choices = [
            app_commands.Choice(name=f"{number}. {fact.text}"[:100], value=str(number))
            for number, fact in enumerate(view.facts, start=1)
        ]
        if choices:
            choices.append(app_commands.Choice(name="all", value="all"))
        typed = current.strip().lower()
        return [choice for choice in choices if typed in choice.name.lower()][:MAX_CHOICES]

    @app_commands.command(name="export", description="Get everything I store about you as a file (in DMs)")
    async def export(self, interaction: discord.Interaction) -> None:
        require_private(self.conversation(interaction).private, PRIVATE_DATA_ONLY)
        await interaction.response.defer(ephemeral=True, thinking=True)
        export = await self.chat.personal_data.export_file(person_of(interaction.user), EXPORT_LIMIT)
        caption = EXPORT_COMPRESSED if export.compressed else EXPORT_CAPTION
        await interaction.user.send(caption, file=discord.File(io.BytesIO(export.data), filename=export.name))
        await answer(interaction, EXPORT_SENT)

    @app_commands.command(name="forget_me", description="Erase everything I store about you, once you confirm (DMs)")
    async def forget_me(self, interaction: discord.Interaction) -> None:
        require_private(self.conversation(interaction).private, PRIVATE_DATA_ONLY)
        await interaction.response.defer(ephemeral=True, thinking=True)
        person = person_of(interaction.user)
        token = await self.chat.personal_data.ask(person)
        erase, keep = partial(self._erase, person, token), partial(self._keep, person, token)
        # The buttons go when the core stops honouring the token; a press in between still gets its check.
        danger = discord.ButtonStyle.danger
        buttons = Buttons(interaction.user.id, erase, keep, timeout=CONFIRM_TTL, label=ERASE, style=danger)
        await buttons.show(interaction, MemoryCommands.forget_me_question(f"Press {ERASE}"))

    async def _erase(self, person: str, token: str) -> str:
        return MemoryCommands.erased(await self.chat.personal_data.confirm(person, token))

    async def _keep(self, person: str, token: str) -> str:
        await self.chat.personal_data.cancel(person, token)
        return FORGET_ME_CANCELLED
