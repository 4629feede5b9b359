"""Show one streamed reply in one Telegram chat, from "typing…" to the complete text.

While the model writes, the reply is shown as a draft preview (private chats, Bot API 9.x
`sendMessageDraft`) or as a live message edited in place (groups, and chats where Telegram
refuses drafts). Each step is computed when the chat's pacer grants a slot, from the newest
text, so fast streams are coalesced into few requests. When the stream ends, the messages
are brought to the final text: long replies become several messages, none over the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from telegram import ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest

from nono.adapters.telegram.format import Rendered, plan_parts, preview, render
from nono.adapters.telegram.outbox import PREVIEW_RATE, Outbox
from nono.adapters.telegram.pacing import is_entity_error, is_not_modified, paced
from nono.core.reply import Reply
from nono.core.wording import EMPTY_REPLY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Content:
    """What one message shows: HTML, or the Markdown as plain text when Telegram refused the HTML."""

    text: str
    parse_mode: str | None

    @classmethod
    def of(cls, part: Rendered, plain: bool) -> _Content:
        if plain:
            return cls(part.source, None)
        return cls(part.html, ParseMode.HTML)


@dataclass
class _Shown:
    message_id: int
    content: _Content


class StreamedReply:
    """The messages of one reply, converging on its text as it grows."""

    def __init__(
        self, outbox: Outbox, chat_id: int, *, reply_to: int | None = None, thread_id: int | None = None,
        on_message: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self.outbox = outbox
        self.on_message = on_message  # told each new message's id (the reply's record in flight)
        self.chat_id = chat_id
        self.reply_to = reply_to
        self.thread_id = thread_id
        self.drafts = outbox.drafts_allowed(chat_id)
        self.text = ""
        self.finished = self.failed = False
        self.visible = asyncio.Event()  # something is on screen: typing can stop
        self._changed = asyncio.Event()
        self._finished = asyncio.Event()
        self._previewed_at: float | None = None
        self._planned: tuple[tuple[str, bool, bool], list[Rendered]] | None = None
        self._sent: list[_Shown] = []
        self._plain: set[int] = set()  # parts whose HTML Telegram refused
        self._draft: tuple[int, _Content] | None = None
        self._draft_ids: dict[int, int] = {}

    def adopt(self, message_ids: Sequence[int]) -> None:
        """Take over messages already on screen (their text unknown): the final text is edited into them."""
        self._sent = [_Shown(message_id, _Content("", None)) for message_id in message_ids]

    def feed(self, chunk: str) -> None:
        self.text += chunk
        self._changed.set()

    def finish(self, *, failed: bool = False) -> None:
        self.finished, self.failed = True, failed
        self.visible.set()
        self._finished.set()
        self._changed.set()

    async def run(self) -> None:
        """Follow the text until it is finished and every message shows its final part."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._next_action() is None:
                if self.finished:
                    return
                continue
            await self._space_previews()
            loop = asyncio.get_running_loop()
            if self.finished or not self.outbox.pacer.congested():
                await paced(self.outbox.pacer, self.chat_id, self._step)
                self._previewed_at = None if self.finished else loop.time()
            else:
                # A preview is cosmetic: with the bot-wide budget spent, skip it rather than queue it
                # ahead of someone's complete answer, and look again at a random moment within the
                # next spacing, so skipped previews spread over the budget instead of colliding again.
                self._previewed_at = loop.time() - random.random() * self.outbox.preview_spacing()
            self._changed.set()  # look again: there may be more to do (more parts, newer text)

    async def _space_previews(self) -> None:
        """Under load, wait before refreshing a preview; never before the first one or the final text."""
        if self.finished or self._previewed_at is None:
            return
        # At least a tick apart, so a preview skipped for a spent budget is not retried in a busy loop.
        spacing = max(self.outbox.preview_spacing(), 1 / PREVIEW_RATE)
        delay = self._previewed_at + spacing - asyncio.get_running_loop().time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._finished.wait()

    def _target(self) -> list[Rendered]:
        # Each step is planned twice (is there anything to do? then, after the wait, what?),
        # usually over the same text: render it once (Markdown is most of a step's CPU).
        key = (self.text, self.finished, self.failed)
        if self._planned is None or self._planned[0] != key:
            self._planned = key, self._plan()
        return self._planned[1]

    def _plan(self) -> list[Rendered]:
        if not self.finished:
            return plan_parts(preview(self.text))
        parts = plan_parts(self.text)
        return parts if parts or self.failed else [render(EMPTY_REPLY)]

    def _step(self) -> Awaitable[None] | None:
        """The one request that brings the chat closest to the target, or None."""
        action = self._next_action()
        return action[0](*action[1:]) if action else None

    def _next_action(self) -> tuple | None:
        parts = self._target()
        for index, part in enumerate(parts):
            content = _Content.of(part, index in self._plain)
            live = not self.finished and index == len(parts) - 1
            if index < len(self._sent):
                if self._sent[index].content != content:
                    return self._edit, index, content
            elif live and self.drafts:
                return None if self._draft == (index, content) else (self._send_draft, index, content)
            else:
                return self._send, index, content
        if self.finished and len(self._sent) > len(parts):
            return (self._delete_last,)
        return None

    async def _send(self, index: int, content: _Content) -> None:
        quoted = self.reply_to if not index else None  # the first message quotes the question
        reply = ReplyParameters(quoted, allow_sending_without_reply=True) if quoted else None
        try:
            message = await self.outbox.bot.send_message(
                self.chat_id,
                content.text,
                parse_mode=content.parse_mode,
                reply_parameters=reply,
                message_thread_id=self.thread_id,
            )
        except BadRequest as exc:
            self._refused(index, content, exc)
            return
        self._sent.append(_Shown(message.message_id, content))
        self.visible.set()
        if self.on_message is not None:
            await self.on_message(message.message_id)

    async def _edit(self, index: int, content: _Content) -> None:
        shown = self._sent[index]
        try:
            await self.outbox.bot.edit_message_text(
                content.text, self.chat_id, shown.message_id, parse_mode=content.parse_mode
            )
        except BadRequest as exc:
            if not is_not_modified(exc):
                self._refused(index, content, exc)
                return
        shown.content = content

    async def _send_draft(self, index: int, content: _Content) -> None:
        draft_id = self._draft_ids.setdefault(index, self.outbox.new_draft_id())
        try:
            await self.outbox.bot.send_message_draft(
                self.chat_id, draft_id, content.text, parse_mode=content.parse_mode, message_thread_id=self.thread_id
            )
        except BadRequest as exc:
            if content.parse_mode and is_entity_error(exc):
                self._refused(index, content, exc)
            else:  # this bot or chat cannot use drafts: live-edit a message instead, from now on
                log.info("telegram_drafts_refused", extra={"chat_id": self.chat_id, "error": exc.message})
                self.outbox.refuse_drafts(self.chat_id)
                self.drafts = False
            return
        self._draft = (index, content)
        self.visible.set()

    async def _delete_last(self) -> None:
        shown = self._sent.pop()
        await self.outbox.bot.delete_message(self.chat_id, shown.message_id)

    def _refused(self, index: int, content: _Content, exc: BadRequest) -> None:
        """Telegram refused our HTML: show this part as plain text from now on. Anything else is a bug."""
        if not (content.parse_mode and is_entity_error(exc)):
            raise exc
        log.warning("telegram_entities_refused", extra={"chat_id": self.chat_id, "error": exc.message})
        self._plain.add(index)


async def deliver(
    reply: Reply, outbox: Outbox, chat_id: int, *, reply_to: int | None = None, thread_id: int | None = None
) -> StreamedReply:
    """Stream `reply` into the chat; a UserFacingError from the core is raised after the partial text is shown.

    The turn is stored complete once Telegram accepted the final text; if Telegram (or shutdown)
    stops the delivery first, it is stored incomplete.
    """
    live = StreamedReply(outbox, chat_id, reply_to=reply_to, thread_id=thread_id, on_message=reply.shown)
    async with reply:  # whatever happens, the turn is settled and its place in line given back
        typing = asyncio.create_task(outbox.keep_typing(chat_id, live.visible, thread_id))
        reader = asyncio.create_task(_read(reply, live))
        try:
            with outbox.writing():
                await live.run()
        except BaseException:
            reader.cancel()  # Telegram failed under us, or shutdown: stop the turn (the core keeps the partial reply)
            await asyncio.wait([reader])
            if not reader.cancelled() and reader.exception() is not None:  # it failed too; report Telegram's error
                log.warning("telegram_reply_failed_too", extra={"chat_id": chat_id, "error": str(reader.exception())})
            raise
        finally:
            typing.cancel()
            await asyncio.wait([typing])
        await reader  # the reader is done: this re-raises the core's error, if any
        await reply.delivered()
    return live


async def _read(reply: Reply, live: StreamedReply) -> None:
    failed = True
    try:
        async for chunk in reply:
            live.feed(chunk)
        failed = False
    finally:
        live.finish(failed=failed)
