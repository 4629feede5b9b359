"""The Telegram side of P4, in its own process: the project's loopback Bot API plus a crowd of users.

`python -m bench.telegram_platform` serves `tests.fakes.telegram_server.FakeTelegram` (the fake the
adapter's tests use: real Bot API envelopes, long-polled getUpdates, HTML parsing) on a free port,
prints `{"base_url": ...}`, then reads one JSON command per line on stdin:

    {"cmd": "run", "users": 1000, "rate": 30, "first_id": 5000000, "timeout": 120, "reply": null, "webhook": null}
    {"cmd": "quit"}

A run adds `users` private chats, queues one message from each at the same moment, and answers
with a JSON line once every chat shows its complete reply (or at the timeout): wall time, replies
complete / lost / duplicated, and the calls it saw. A reply is complete when the chat shows exactly
`reply`, or (null) the benchmark's paced LLM's answer to that user's message. With `webhook`
(`{"url": ..., "secret": ..., "connections": 40}`) the messages are not queued for getUpdates but
posted to the bot's webhook as Telegram posts them: the secret header, at most `connections` requests
at a time (Telegram's `max_connections`, 40 by default); the answers' statuses are counted in the calls.
With `--ollama N` it also serves the project's loopback Ollama (`tests.fakes.ollama_server`) with
N short replies queued, for a `nono run` whose LLM_BACKEND is ollama. With `rate` > 0 it applies Telegram's global
flood limit: messages (sendMessage, editMessageText, sendMessageDraft) beyond `rate` per second
(a token bucket holding one second's worth) get Telegram's 429 with `retry_after`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections import Counter
from typing import Any

from aiohttp import web

from tests.fakes.ollama_server import DEFAULT_MODEL, running_ollama
from tests.fakes.telegram_methods import ApiError
from tests.fakes.telegram_server import TOKEN as FAKE_TOKEN
from tests.fakes.telegram_server import FakeTelegram

LIMITED = frozenset({"sendMessage", "editMessageText", "sendMessageDraft"})
REPLY_TOKENS = 100
OLLAMA_REPLY = ["Hi", " there", "!"]


#: The bot token the loopback Bot API accepts.
TOKEN = FAKE_TOKEN


def message_text(user_id: int) -> str:
    return f"hello-from-{user_id}"


def expected_reply(user_id: int, tokens: int = REPLY_TOKENS) -> str:
    """What the benchmark's paced LLM answers to `message_text(user_id)`: the message's tag, then words."""
    return f"re:{message_text(user_id)}" + "".join(f" w{i}" for i in range(1, tokens))


class CrowdTelegram(FakeTelegram):
    """FakeTelegram that knows when each chat shows its complete reply, with an optional global limit."""

    def __init__(self) -> None:
        super().__init__()
        self.rate = 0.0
        self._tokens = 0.0
        self._refilled = time.monotonic()
        self.expected: dict[int, str] = {}
        self.done_at: dict[int, float] = {}
        self.counts: Counter[str] = Counter()
        self.all_done = asyncio.Event()
        #: The updates of a webhook run, to be posted to the bot.
        self.to_post: list[dict[str, Any]] = []

    def start_run(self, users: list[int], rate: float, reply: str | None = None, *, post: bool = False) -> float:
        """Queue one message from each user (or with `post`, set them aside in `to_post`), all at once;
        return the moment they were queued."""
        self.rate, self._tokens, self._refilled = rate, rate, time.monotonic()
        self.expected = {uid: expected_reply(uid) if reply is None else reply for uid in users}
        self.done_at, self.counts, self.all_done = {}, Counter(), asyncio.Event()
        people = [self.add_user(uid, f"User{uid}") for uid in users]
        started = time.monotonic()
        self.to_post = []
        for person in people:
            chat, text = self.chats[person["id"]], message_text(person["id"])
            if post:
                self.to_post.append(self.make_update(person, chat, text))
            else:
                self.say(person, chat, text)
        return started

    def _fault(self, method: str, params: dict[str, Any]) -> None:
        super()._fault(method, params)
        self.counts[method] += 1
        if not self.rate or method not in LIMITED:
            return
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if self._tokens < 1:
            self.counts["429"] += 1
            # The bucket refills within 1/rate s, but Telegram only says whole seconds: 1 is its smallest answer.
            raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        self._tokens -= 1
        self.counts["limited_ok"] += 1

    async def api_sendMessage(self, params: dict) -> dict:
        message = await super().api_sendMessage(params)
        self._check(message)
        return message

    async def api_editMessageText(self, params: dict) -> dict:
        message = await super().api_editMessageText(params)
        self._check(message)
        return message

    def _check(self, message: dict) -> None:
        chat_id = message["chat"]["id"]
        if message["text"] == self.expected.get(chat_id) and chat_id not in self.done_at:
            self.done_at[chat_id] = time.monotonic()
            if len(self.done_at) == len(self.expected):
                self.all_done.set()

    def outcome(self, started: float) -> dict[str, Any]:
        """What the users see now."""
        shown: dict[int, list[str]] = {}
        for (chat_id, _), message in sorted(self.messages.items()):
            if message["from"] == self.bot:
                shown.setdefault(chat_id, []).append(message["text"])
        complete = {uid for uid, text in self.expected.items() if _complete(shown.get(uid, []), text)}
        extra = [uid for uid in self.expected if len(shown.get(uid, [])) > 1]
        wrong = [uid for uid in self.expected if uid not in complete]
        samples = {str(uid): [text[:80] for text in shown.get(uid, [])] for uid in (wrong[:2] + extra[:2])}
        finished = max(self.done_at.values(), default=time.monotonic())
        done = sorted(at - started for at in self.done_at.values())
        spread = (
            {f"p{p}": round(done[min(len(done) - 1, len(done) * p // 100)], 2) for p in (0, 10, 50, 90)} if done else {}
        )
        return {
            "wall": finished - started,
            "users": len(self.expected),
            "complete": len(complete),
            "lost": len(self.expected) - len(self.done_at),
            "wrong_or_extra": len(self.expected) - len(complete),
            "duplicated": len(extra),
            "samples": samples,
            "done_at": spread,
            "cpu_s": round(time.process_time(), 2),
            "calls": dict(self.counts),
            "unexpected": list(self.unexpected),
        }


class Platform:
    """The client side: starts this module as a process and talks to it, one JSON line each way."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self.info: dict[str, Any] = {}
        self.next_id = 5_000_000

    @classmethod
    async def start(cls, ollama_replies: int = 0) -> Platform:
        """Start the process; with `ollama_replies`, it also serves a loopback Ollama (see `info`)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.telegram_platform",
            "--ollama",
            str(ollama_replies),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError("the loopback Telegram process did not start")
        info = json.loads(line)
        platform = cls(process, info["base_url"])
        platform.info = info
        return platform

    async def crowd(
        self, users: int, rate: float, timeout: float, reply: str | None = None, webhook: dict | None = None
    ) -> dict[str, Any]:
        """Queue one message from each of `users` new users at once; wait until each has its reply.

        The reply expected is `reply`, or (None) the paced LLM's answer to that user's message.
        With `webhook` ({"url", "secret", "connections"}), the messages are posted to the bot's webhook.
        """
        command = {
            "cmd": "run",
            "users": users,
            "rate": rate,
            "first_id": self.next_id,
            "timeout": timeout,
            "reply": reply,
            "webhook": webhook,
        }
        self.next_id += 100_000
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        return json.loads(await self.process.stdout.readline())

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.stdin.write(b'{"cmd": "quit"}\n')
            await self.process.stdin.drain()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def serve(ollama_replies: int) -> None:
    # PTB drops idle and long-polling connections as clients do; aiohttp logs each as an error with a
    # traceback. Requests the fake cannot answer are still caught: they land in `unexpected`.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    async with contextlib.AsyncExitStack() as stack:
        extra = {}
        if ollama_replies:
            url, ollama = await stack.enter_async_context(running_ollama())
            for _ in range(ollama_replies):
                ollama.enqueue(OLLAMA_REPLY)
            extra = {"ollama_url": url, "ollama_model": DEFAULT_MODEL, "ollama_reply": "".join(OLLAMA_REPLY)}
        await serve_telegram(extra)


async def serve_telegram(extra: dict[str, Any]) -> None:
    fake = CrowdTelegram()
    runner = web.AppRunner(fake.app(), shutdown_timeout=1, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base_url = f"http://127.0.0.1:{port}/bot"
    _say({"base_url": fake.base_url, **extra})
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command = json.loads(line)
            if command["cmd"] == "quit":
                break
            users = list(range(command["first_id"], command["first_id"] + command["users"]))
            webhook = command.get("webhook")
            started = fake.start_run(users, float(command["rate"]), command.get("reply"), post=webhook is not None)
            posting = asyncio.create_task(post_updates(fake.to_post, webhook)) if webhook else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fake.all_done.wait(), command["timeout"])
            await asyncio.sleep(0.2)  # let any late duplicate arrive before counting
            if posting is not None:
                fake.counts.update(await posting)
            _say(fake.outcome(started))
    finally:
        fake._closing = True
        fake._notify()
        await runner.cleanup()


async def post_updates(updates: list[dict[str, Any]], webhook: dict[str, Any]) -> Counter[str]:
    """Post each update to the bot's webhook, at most `connections` at a time; count the answers' statuses."""
    import aiohttp

    statuses: Counter[str] = Counter()
    headers = {"X-Telegram-Bot-Api-Secret-Token": webhook["secret"]}
    connector = aiohttp.TCPConnector(limit=webhook.get("connections", 40))
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as http:

        async def post(update: dict[str, Any]) -> None:
            try:
                async with http.post(webhook["url"], json=update) as response:
                    await response.read()
                    statuses[f"webhook {response.status}"] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:  # counted: that user's reply is then lost
                statuses[f"webhook {exc.__class__.__name__}"] += 1

        await asyncio.gather(*(post(update) for update in updates))
    return statuses


def _complete(shown: list[str], expected: str) -> bool:
    """Exactly one message from the bot in the chat, the expected one."""
    return shown == [expected]


def _say(data: dict[str, Any]) -> None:
    print(json.dumps(data), flush=True)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[sys.argv.index("--ollama") + 1]) if "--ollama" in sys.argv else 0))
