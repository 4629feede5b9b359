"""A loopback Telegram Bot API: an aiohttp app on 127.0.0.1 that python-telegram-bot talks to over HTTP.

It answers like api.telegram.org: `{"ok": true, "result": ...}` envelopes, Message objects
with message_id/date/chat/from/text/entities, long-polled `getUpdates` with offsets, and the
Bot API's own errors — 404 for an unknown method, 400 "Bad Request: ..." for a missing
parameter, unparsable HTML, a text over 4096 UTF-16 units, an edit that changes nothing,
401 for a wrong token, 413 for an upload over 50 MB. Files arrive as multipart/form-data
(tests/fakes/telegram_files.py). Tests drive it as the people in the chats (`say`, `press`) and
read what they would see (`shown`, `calls`). Faults are scripted with `inject`; `flood` is a
429 that, as Telegram does, keeps refusing what the bot posts in that chat until the wait is
over. `clock` (time.monotonic unless a test gives its own) stamps calls and times those waits.

It fails loudly: an unknown method, or a request the fake cannot handle, is recorded in
`unexpected`; `running_telegram` raises AssertionError at exit if any remain.

    async with running_telegram() as tg:
        alice = tg.add_user(1001, "Alice")
        tg.say(alice, alice, "hello")                       # a private message
        await tg.wait_for(lambda: tg.shown(alice["id"]))    # the bot's messages there
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.telegram_files import TOO_LARGE, UPLOAD_LIMIT, FileMethods, Upload
from tests.fakes.telegram_methods import ApiError

TOKEN = "123456789:AAFakeTokenForTheLoopbackBotApi_0123"
#: What a multipart request may carry besides its file (fields, part headers) before the server stops reading.
FORM_ROOM = 1024 * 1024
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Nono", "username": "nono_test_bot"}
#: The methods that post into a chat: Telegram's flood wait for a chat holds them all.
POSTING = frozenset({"sendMessage", "editMessageText", "sendMessageDraft", "deleteMessage", "sendDocument"})


@dataclass
class Call:
    """One request the bot made, as the server saw it."""

    method: str
    params: dict[str, Any]
    at: float  # the fake's clock when it arrived
    status: int = 200
    description: str | None = None
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Fault:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    times: int = 1
    when: Callable[[dict[str, Any]], bool] | None = None
    holds_chat: bool = False  # a flood wait: the chat stays closed to posting for retry_after seconds


class FakeTelegram(FileMethods):
    """The Bot API's state for one bot: users, chats, messages, uploads, pending updates, recorded calls."""

    def __init__(
        self, token: str = TOKEN, bot: dict[str, Any] | None = None, *, upload_limit: int = UPLOAD_LIMIT
    ) -> None:
        super().__init__(upload_limit)
        self.token = token
        self.bot = dict(bot or BOT_USER)
        self.base_url = ""
        self.calls: list[Call] = []
        self.unexpected: list[str] = []
        self.refuse_drafts = False
        self.faults: list[Fault] = []
        self.clock: Callable[[], float] = time.monotonic
        self._flooded: dict[str, float] = {}  # chat id -> when its flood wait ends
        self.updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._tick = asyncio.Event()  # replaced on every change; waiters hold the old one
        self._closing = False

    # -- the people in the chats ----------------------------------------------------------

    def add_user(
        self, user_id: int, first_name: str, username: str | None = None, *, is_bot: bool = False
    ) -> dict[str, Any]:
        user = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if username:
            user["username"] = username
        self.users[user_id] = user
        chat = {"id": user_id, "type": "private", "first_name": first_name}
        self.chats[user_id] = chat
        return user

    def add_group(self, chat_id: int, title: str, kind: str = "supergroup", *, forum: bool = False) -> dict[str, Any]:
        assert chat_id < 0, "group and supergroup ids are negative in the Bot API"
        self.chats[chat_id] = {"id": chat_id, "type": kind, "title": title}
        if forum:
            assert kind == "supergroup", "only supergroups have forum topics"
            self.chats[chat_id]["is_forum"] = True
        return self.chats[chat_id]

    def say(self, user: dict, chat: dict, text: str, **details: Any) -> dict[str, Any]:
        """`user` writes `text` in `chat`; `details` as for `user_message` (reply_to, topic…). Returns the Message."""
        message = self.user_message(user, chat, text, **details)
        self.push({"message": message})
        return message

    def press(self, user: dict, message: dict[str, Any], data: str) -> str:
        """`user` taps the inline button carrying `data` under `message`; returns the query id."""
        query_id = str(next(self._query_ids))
        self.queries[query_id] = False
        current = self.messages[(message["chat"]["id"], message["message_id"])]
        query = {"id": query_id, "from": user, "message": current, "chat_instance": "1", "data": data}
        self.push({"callback_query": query})
        return query_id

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; returns it with its update_id."""
        update = {"update_id": next(self._update_ids), **update}
        self.updates.append(update)
        self._notify()
        return update

    def make_update(self, user: dict, chat: dict, text: str) -> dict[str, Any]:
        """An update as Telegram would POST it to a webhook (not queued for getUpdates)."""
        return {"update_id": next(self._update_ids), "message": self.user_message(user, chat, text)}

    # -- what tests look at ----------------------------------------------------------------

    def calls_to(self, method: str, chat_id: int | None = None) -> list[Call]:
        wanted = None if chat_id is None else str(chat_id)
        return [c for c in self.calls if c.method == method and wanted in (None, str(c.params.get("chat_id")))]

    def shown(self, chat_id: int) -> list[str]:
        """The texts of the bot's messages in a chat, as the user sees them now (after edits and deletions)."""
        return [m["text"] for m in self.bot_messages(chat_id)]

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's text messages in a chat (not service messages, such as a topic it opened)."""
        messages = sorted(self.messages.items())
        return [m for (c, _), m in messages if c == chat_id and m["from"] == self.bot and "text" in m]

    def inject(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        times: int = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` (matching `when`) with this error instead."""
        self.faults.append(Fault(method, status, description, retry_after, times, when))

    def flood(self, method: str, retry_after: int, *, when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Answer the next call of `method` (matching `when`) with 429 "retry after", and until that wait is over,
        every call that posts in its chat too (Telegram's flood wait), with the seconds left."""
        description = f"Too Many Requests: retry after {retry_after}"
        self.faults.append(Fault(method, 429, description, retry_after, 1, when, holds_chat=True))

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Wait until `predicate()` is truthy (re-checked after every call and update); fail loudly otherwise."""
        deadline = time.monotonic() + timeout
        while not (value := predicate()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                summary = "\n".join(
                    f"  {c.method} {c.status} {c.description or ''} {_short(c.params)}" for c in self.calls
                )
                pytest.fail(f"timed out waiting for the bot; calls so far:\n{summary}")
            with contextlib.suppress(TimeoutError):  # also re-check now and then: tests wait on the bot's state too
                await asyncio.wait_for(self._tick.wait(), min(remaining, 0.05))
        return value

    # -- HTTP ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.upload_limit + FORM_ROOM)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        handler = self.method(method)
        if handler is None:
            self.unexpected.append(f"unknown Bot API method {method}")
            return _error(404, "Not Found: method not found")
        call = Call(method, {}, self.clock())
        self.calls.append(call)
        try:
            call.params = params = await _params(request)
            self._fault(method, params)
            call.result = await handler(params)
        except ApiError as exc:
            call.status, call.description = exc.status, exc.description
            return _error(exc.status, exc.description, exc.parameters)
        except Exception as exc:  # a bug in the fake, or a request it cannot make sense of
            self.unexpected.append(f"{method}: {exc!r}")
            raise
        finally:
            self._notify()
        return web.json_response({"ok": True, "result": call.result})

    def _fault(self, method: str, params: dict[str, Any]) -> None:
        chat = str(params.get("chat_id"))
        if method in POSTING and (left := self._flooded.get(chat, 0.0) - self.clock()) > 0:
            seconds = math.ceil(left)
            raise ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})
        for fault in self.faults:
            if fault.method == method and fault.times > 0 and (fault.when is None or fault.when(params)):
                fault.times -= 1
                extra = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
                if fault.holds_chat and fault.retry_after:
                    self._flooded[chat] = self.clock() + fault.retry_after
                raise ApiError(fault.status, fault.description, extra)

    def _notify(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()

    async def wait_updates(self, timeout: float) -> None:
        """Long polling: return when an update arrives, the timeout passes, or the server closes."""
        deadline = time.monotonic() + timeout
        while not self._closing and not self.pending_updates() and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tick.wait(), left)


async def _params(request: web.Request) -> dict[str, Any]:
    """Parameters the way the Bot API reads them: query string, form fields (files as Uploads) or a JSON body."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    elif request.can_read_body:
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, TOO_LARGE) from None
        for name, value in form.items():
            if isinstance(value, web.FileField):
                with value.file:  # aiohttp spools file parts to a temporary file
                    params[name] = Upload(value.filename, value.content_type, value.file.read())
            elif isinstance(value, str):
                params[name] = value
    return params


def _error(status: int, description: str, parameters: dict | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _short(params: dict[str, Any]) -> str:
    text = json.dumps(params, ensure_ascii=False, default=str)
    return text if len(text) < 160 else text[:157] + "..."


@asynccontextmanager
async def running_telegram(**options: Any) -> AsyncIterator[FakeTelegram]:
    """Serve a FakeTelegram on a free loopback port; `base_url` is what TELEGRAM_BASE_URL should be."""
    fake = FakeTelegram(**options)
    runner = web.AppRunner(fake.app(), shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base_url = f"http://127.0.0.1:{port}/bot"
    try:
        yield fake
    finally:
        fake._closing = True
        fake._notify()
        await runner.cleanup()
    if fake.unexpected:
        raise AssertionError("the fake Telegram saw requests it does not expect:\n" + "\n".join(fake.unexpected))
