"""Confirm (and Cancel) buttons under one ephemeral question: what /link, /unlink and /forget_me show.

A press calls the core and replaces the question with its answer, buttons gone. The words on the
buttons and how long they stay are the caller's; the core decides what a press does.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from nono.adapters.discord.render import NO_MENTIONS, failure_text

log = logging.getLogger(__name__)

Action = Callable[[], Awaitable[str]]

#: Someone else pressed (the question is ephemeral, so only a client bug or a forged interaction gets here).
NOT_YOURS = "This isn't your button."


class Buttons(discord.ui.View):
    """Confirm (and Cancel, when there is something to cancel) under one ephemeral question.

    Only the person who asked may press: the message is ephemeral, and the check makes sure of it.
    """

    def __init__(
        self,
        owner: int,
        confirm: Action,
        cancel: Action | None = None,
        *,
        timeout: float,
        label: str = "Confirm",
        style: discord.ButtonStyle = discord.ButtonStyle.success,
    ) -> None:
        # `timeout`: how long the core honours the request; after that a press could only say "expired".
        super().__init__(timeout=timeout)
        self.owner = owner
        self._confirm = confirm
        self._cancel = cancel
        self.message: discord.WebhookMessage | None = None
        self.confirm_button.label, self.confirm_button.style = label, style
        if cancel is None:
            self.remove_item(self.cancel_button)

    async def show(self, interaction: discord.Interaction, text: str) -> None:
        """Answer the (deferred) command with `text` and these buttons."""
        self.message = await interaction.followup.send(
            text, view=self, ephemeral=True, allowed_mentions=NO_MENTIONS, wait=True
        )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Only the person who asked: they are the one the answer is about."""
        if interaction.user.id == self.owner:
            return True
        await interaction.response.send_message(NOT_YOURS, ephemeral=True)
        return False

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.success)
    async def confirm_button(self, interaction: discord.Interaction, button: discord.ui.Button[Buttons]) -> None:
        await self._press(interaction, self._confirm)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel_button(self, interaction: discord.Interaction, button: discord.ui.Button[Buttons]) -> None:
        assert self._cancel is not None  # the button is only shown with something to cancel
        await self._press(interaction, self._cancel)

    async def _press(self, interaction: discord.Interaction, action: Action) -> None:
        self.stop()  # one answer per question: a second press must not act again
        await interaction.response.defer()  # the core's work may take longer than Discord's 3 s
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
