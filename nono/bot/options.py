"""Each adapter's frozen options, built from Settings: the only place adapters' configuration is read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nono.bot.settings import Settings
from nono.core.errors import ConfigError

# Each adapter package is imported when its options are built, so a platform that is not configured
# never loads its SDK (discord.py alone is ~10 MB of a process that only serves Telegram; bench P8).
if TYPE_CHECKING:
    from nono.adapters.discord import DiscordOptions
    from nono.adapters.http import HttpOptions
    from nono.adapters.telegram import TelegramOptions


def discord_options(settings: Settings) -> DiscordOptions:
    """The DISCORD_* settings (and STREAM_EDIT_INTERVAL)."""
    from nono.adapters.discord import DiscordOptions

    return DiscordOptions(
        channels=frozenset(settings.discord_channels),
        guild_ids=tuple(settings.discord_guild_ids),
        memory_scope="channel" if settings.discord_memory_scope == "channel" else "person",
        reply_chain_depth=settings.discord_reply_chain_depth,
        allowed_guilds=frozenset(settings.discord_allowed_guilds),
        allowed_roles=frozenset(settings.discord_allowed_roles),
        allowed_users=frozenset(settings.discord_allowed_users),
        edit_interval=settings.stream_edit_interval,
        token=settings.discord_token,
        shard_count=settings.discord_shard_count,
        shard_ids=tuple(settings.discord_shard_ids),
    )


def telegram_options(settings: Settings) -> TelegramOptions:
    """The TELEGRAM_* settings (and STREAM_EDIT_INTERVAL); ConfigError without TELEGRAM_TOKEN."""
    from nono.adapters.telegram import TelegramOptions

    if settings.telegram_token is None:
        raise ConfigError("TELEGRAM_TOKEN is not set")
    return TelegramOptions(
        token=settings.telegram_token,
        base_url=settings.telegram_base_url,
        memory_scope="chat" if settings.telegram_memory_scope == "chat" else "person",
        allowed_users=frozenset(settings.telegram_allowed_users),
        allowed_chats=frozenset(settings.telegram_allowed_chats),
        edit_interval=settings.stream_edit_interval,
        global_rate=settings.telegram_global_rate,
        webhook_url=settings.telegram_webhook_url,
        webhook_secret=settings.telegram_webhook_secret,
        lock_lease=settings.lock_lease,
    )


def http_options(settings: Settings) -> HttpOptions:
    """The SIDECAR_* settings, ADMIN_TOKEN, METRICS_PUBLIC, SHUTDOWN_GRACE and the webhook secret."""
    from nono.adapters.http import HttpOptions

    return HttpOptions(
        host=settings.sidecar_host,
        port=settings.sidecar_port,
        admin_token=settings.admin_token,
        metrics_public=settings.metrics_public,
        shutdown_grace=settings.shutdown_grace,
        read_timeout=settings.sidecar_read_timeout,
        telegram_webhook_secret=settings.telegram_webhook_secret,
        reuse_port=settings.sidecar_reuse_port,
    )
