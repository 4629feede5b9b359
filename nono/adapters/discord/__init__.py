"""Discord: discord.py translating gateway events into ChatService calls."""

from nono.adapters.discord.bot import NonoBot, create_discord_bot

__all__ = ["NonoBot", "create_discord_bot"]
