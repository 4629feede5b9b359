"""Who Nono answers on Discord, when, in which conversation, and what the model reads.

Pure decisions on discord.py objects: whether a message is addressed to the bot, whether its
author passes the allowlists, which conversation a message belongs to, and the prompt text.
The scope policy itself (a place and a person → a conversation) is the core's; here a Discord
channel or thread only becomes a `Place`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

import discord
from pydantic import SecretStr

from nono.core.people import Conversation, Place, Scope, Speaker, group_conversation

log = logging.getLogger(__name__)

_CHAT_TYPES = (discord.MessageType.default, discord.MessageType.reply)


@dataclass(frozen=True)
class DiscordOptions:
    """The plain values the Discord adapter is configured with (built by the wiring)."""

    channels: frozenset[int] = frozenset()
    guild_ids: tuple[int, ...] = ()
    #: In a server channel: one conversation per person (`person`) or one everybody there shares (`channel`).
    memory_scope: Literal["person", "channel"] = "person"
    allowed_guilds: frozenset[int] = frozenset()
    allowed_roles: frozenset[int] = frozenset()
    allowed_users: frozenset[int] = frozenset()
    edit_interval: float = 1.0
    #: How many messages up a reply's chain go into the prompt as quoted context (0: none).
    reply_chain_depth: int = 5
    #: Only `running` needs it: a bot built for tests never logs in.
    token: SecretStr | None = None
    #: Discord's total shard count when this process is one of several (None: one unsharded connection).
    shard_count: int | None = None
    #: The shards this process connects (empty with a count: all of them).
    shard_ids: tuple[int, ...] = ()

    @property
    def restricted(self) -> bool:
        return bool(self.allowed_guilds or self.allowed_roles or self.allowed_users)


def is_addressed(message: discord.Message, me: discord.ClientUser, channels: frozenset[int]) -> bool:
    """True when Nono should answer: a DM, a mention, a reply to Nono, or a listed channel."""
    author = message.author
    if author.bot or message.webhook_id is not None or author.id == me.id:
        return False
    if message.type not in _CHAT_TYPES:
        return False
    if message.guild is None:
        return True
    channel = message.channel
    if channel.id in channels or getattr(channel, "parent_id", None) in channels:
        return True
    return _mentions_me(message, me) or _replies_to_me(message, me)


def _mentions_me(message: discord.Message, me: discord.ClientUser) -> bool:
    # raw_mentions reads the text itself: a reply's automatic ping and @everyone do not count.
    if me.id in message.raw_mentions:
        return True
    own_role = message.guild.self_role if message.guild is not None else None
    return own_role is not None and own_role.id in message.raw_role_mentions


def _replies_to_me(message: discord.Message, me: discord.ClientUser) -> bool:
    reference = message.reference
    if reference is None:
        return False
    target = reference.resolved or reference.cached_message
    return isinstance(target, discord.Message) and target.author.id == me.id


def person_of(user: discord.abc.User) -> str:
    """The person id of a Discord account."""
    return f"discord:{user.id}"


def speaker_of(user: discord.abc.User) -> Speaker:
    """Who speaks: the Discord account, named as people see it there (server nickname, else display name)."""
    return Speaker.of(person_of(user), user.display_name)


def conversation_of(
    user: discord.abc.User, channel_id: int, in_guild: bool, scope: Literal["person", "channel"]
) -> Conversation:
    """A DM is the person's private conversation; a server channel or thread is a place (its own, for a thread)."""
    if not in_guild:
        return Conversation.private_of(person_of(user))
    place = Place("discord", f"channel:{channel_id}")
    return group_conversation(place, person_of(user), Scope.SHARED if scope == "channel" else Scope.PERSON)


def prompt_text(message: discord.Message, me: discord.ClientUser) -> str:
    """The message as the model should read it: Nono's mention removed, other mentions as names.

    Who said it is not added here: the core names speakers where several people share a conversation.
    """
    text = re.sub(rf"<@!?{me.id}>", "", message.content)
    own_role = message.guild.self_role if message.guild is not None else None
    if own_role is not None:
        text = text.replace(own_role.mention, "")
    for user in message.mentions:
        if user.id != me.id:
            text = re.sub(rf"<@!?{user.id}>", f"@{user.display_name}", text)
    for role in message.role_mentions:
        text = text.replace(role.mention, f"@{role.name}")
    return text.strip()


class AccessPolicy:
    """DISCORD_ALLOWED_GUILDS / _ROLES / _USERS; with none set, everyone is allowed."""

    def __init__(self, options: DiscordOptions) -> None:
        self.options = options

    def allows_member(self, user: discord.abc.User, guild: discord.Guild) -> bool:
        """A server member: the server must be allowed, then the user by id or by role."""
        opts = self.options
        if opts.allowed_guilds and guild.id not in opts.allowed_guilds:
            return False
        if not opts.allowed_users and not opts.allowed_roles:
            return True
        if user.id in opts.allowed_users:
            return True
        roles = {role.id for role in getattr(user, "roles", ())}
        return bool(roles & opts.allowed_roles)

    async def allows_dm(self, user: discord.abc.User, client: discord.Client) -> bool:
        """A DM: allowed users, or members of an allowed server (holding an allowed role, if any)."""
        opts = self.options
        if not opts.restricted or user.id in opts.allowed_users:
            return True
        if not opts.allowed_guilds and not opts.allowed_roles:
            return False
        ids = opts.allowed_guilds or {guild.id for guild in client.guilds}
        for guild in filter(None, map(client.get_guild, sorted(ids))):
            member = guild.get_member(user.id) or await _fetch_member(guild, user.id)
            if member is not None and self.allows_member(member, guild):
                return True
        return False


async def _fetch_member(guild: discord.Guild, user_id: int) -> discord.Member | None:
    """The member, or None when they are not in the server (or Discord will not say)."""
    try:
        return await guild.fetch_member(user_id)
    except discord.NotFound:
        return None
    except discord.HTTPException as exc:
        log.warning("discord_member_lookup_failed", extra={"guild_id": guild.id, "status": exc.status})
        return None
