"""Slash commands: /persona (with autocomplete), /personas, /models, /reset, /history, /help.

The wording and behaviour live in `nono.core.commands`; these cogs only map Discord
interactions onto it. Answers are ephemeral: they concern only the person who asked. A command
acts on the conversation the person's messages in that channel (or thread, or DM) belong to.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from discord.ext import commands

from nono.adapters.discord.access import AccessPolicy, DiscordOptions, conversation_of, person_of
from nono.adapters.discord.render import DISCORD_LIMIT, NO_MENTIONS, failure_text
from nono.adapters.splitting import split_message
from nono.core.chat import ChatService
from nono.core.commands import MAX_HISTORY_COUNT, Commands
from nono.core.people import Conversation
from nono.core.wording import REFUSAL

log = logging.getLogger(__name__)

MAX_CHOICES = 25  # Discord's limit for autocomplete


class CommandCog(commands.Cog):
    """What every cog of slash commands shares: the allowlists, the conversation, the one error handler."""

    def __init__(self, chat: ChatService, options: DiscordOptions, access: AccessPolicy) -> None:
        self.chat = chat
        self.actions = Commands(chat)
        self.options = options
        self.access = access

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """The allowlists apply to commands as they do to messages."""
        if interaction.guild is not None:
            return self.access.allows_member(interaction.user, interaction.guild)
        return await self.access.allows_dm(interaction.user, interaction.client)

    def conversation(self, interaction: discord.Interaction) -> Conversation:
        """The same conversation the person's messages in this channel, thread or DM belong to."""
        in_guild = interaction.guild is not None
        return conversation_of(interaction.user, interaction.channel_id or 0, in_guild, self.options.memory_scope)

    async def _run(self, interaction: discord.Interaction, action: Callable[[Conversation], Awaitable[str]]) -> None:
        """Answer with what `action` says about the interaction's conversation."""
        # Defer first: the store may be slow, and Discord drops interactions unanswered after 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        await answer(interaction, await action(self.conversation(interaction)))

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """The one place command failures become an (ephemeral) answer."""
        if isinstance(error, app_commands.CheckFailure):
            text = REFUSAL
        else:
            text = failure_text(error.original if isinstance(error, app_commands.CommandInvokeError) else error)
        try:
            await answer(interaction, text)
        except discord.HTTPException as exc:
            log.warning("discord_command_answer_failed", extra={"status": exc.status, "code": exc.code})


class SlashCommands(CommandCog):
    """The platform-neutral commands as Discord slash commands."""

    @app_commands.command(name="persona", description="Show my persona and the list, or switch to another one")
    @app_commands.describe(name="The persona to switch to")
    async def persona(self, interaction: discord.Interaction, name: str | None = None) -> None:
        manager = is_manager(interaction)
        await self._run(interaction, lambda conversation: self.actions.persona(conversation, name, manager=manager))

    @persona.autocomplete("name")
    async def persona_names(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The loaded personas whose name or display name contains what was typed so far."""
        typed = current.strip().lower()
        choices = [
            app_commands.Choice(name=f"{p.name} ({p.display_name})"[:100], value=p.name)
            for p in self.chat.list_personas()
            if typed in p.name or typed in p.display_name.lower()
        ]
        return choices[:MAX_CHOICES]

    @app_commands.command(name="personas", description="List the personas I can speak as")
    async def personas(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, self.actions.personas)

    @app_commands.command(name="models", description="List the models, the one answering here marked")
    async def models(self, interaction: discord.Interaction) -> None:
        # Model names are not Markdown: `q4_K_M` must not turn italic.
        await self._run(interaction, lambda conversation: _literal(self.actions.models(conversation)))

    @app_commands.command(name="reset", description="Forget our conversation: history, summary, facts, persona choice")
    async def reset(self, interaction: discord.Interaction) -> None:
        manager = is_manager(interaction)
        await self._run(interaction, lambda conversation: self.actions.reset(conversation, manager=manager))

    @app_commands.command(name="history", description="Show your recent messages (only you can see them)")
    @app_commands.describe(count="How many messages to show")
    async def history(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, MAX_HISTORY_COUNT] = 10
    ) -> None:
        asker = person_of(interaction.user)
        await self._run(interaction, lambda conversation: self.actions.history(conversation, count, asker=asker))

    @app_commands.command(name="help", description="What I do and which commands I have")
    async def help(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self.actions.help("/"))


async def _literal(text: Awaitable[str]) -> str:
    return discord.utils.escape_markdown(await text)


def is_manager(interaction: discord.Interaction) -> bool:
    """May change what a shared conversation holds: Manage Server (administrators and owners have it); in a DM, yes."""
    return interaction.guild is None or interaction.permissions.manage_guild


async def answer(interaction: discord.Interaction, text: str) -> None:
    """Send `text` ephemerally, split into as many messages as Discord's limit needs."""
    for part in split_message(text, DISCORD_LIMIT):
        if interaction.response.is_done():
            await interaction.followup.send(part, ephemeral=True, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.response.send_message(part, ephemeral=True, allowed_mentions=NO_MENTIONS)
