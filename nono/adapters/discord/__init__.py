"""Discord: discord.py translating gateway events into ChatService calls."""

from nono.adapters.discord.access import DiscordOptions
from nono.adapters.discord.bot import DiscordPart, NonoBot, create_discord_bot, running

__all__ = ["DiscordOptions", "DiscordPart", "NonoBot", "create_discord_bot", "running"]
