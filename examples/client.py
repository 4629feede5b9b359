#!/usr/bin/env python3
"""Chat with Nono through its sidecar: a small, readable client of the REST API and the WebSocket.

    pip install aiohttp
    export NONO_TOKEN=...            # the sidecar's ADMIN_TOKEN (or pass --token; the variable keeps it out of `ps`)
    python examples/client.py --url http://127.0.0.1:8080 --user alice

Then type a message to chat (the reply streams in as the model writes it), or a command:

    /personas         list the personas         /history [N]   the last N messages (default 10)
    /persona NAME     switch persona            /clear         forget this conversation
    /help             this list                 /quit          leave (so does Ctrl-D)

You chat as the REST person `rest:<user>`; the conversation is that person's private one. Every call
is described in docs/sidecar.md, and live at <url>/docs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

HELP = """\
/personas         list the personas         /history [N]   the last N messages (default 10)
/persona NAME     switch persona            /clear         forget this conversation
/help             this list                 /quit          leave (so does Ctrl-D)"""


class NonoError(Exception):
    """What the sidecar answered instead (its problem details: status, code, detail), or a lost connection."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code = status, code


class Nono:
    """One REST person talking to one sidecar: REST calls for the admin verbs, a WebSocket for chat."""

    def __init__(self, http: aiohttp.ClientSession, url: str, user: str) -> None:
        self.http, self.base = http, url.rstrip("/")
        self.person = user if user.startswith("rest:") else f"rest:{user}"  # `alice` and `rest:alice` are one
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None, **query: Any) -> Any:
        """One REST call; the JSON answer, or NonoError."""
        async with self.http.request(method, self.base + path, json=body, params=query) as response:
            answer = await response.json(content_type=None)  # errors are application/problem+json
            if response.status >= 400:
                raise NonoError(response.status, answer["code"], answer["detail"])
            return answer

    async def start(self) -> dict[str, Any]:
        """Start (or refresh) the session; it says which persona answers."""
        return await self.call("POST", "/session/start", {"user_id": self.person})

    async def chat(self, message: str) -> AsyncIterator[str]:
        """Send one message over the WebSocket; yield the reply's pieces as they arrive."""
        if self.ws is None or self.ws.closed:  # one socket for the whole conversation
            self.ws = await self.http.ws_connect(f"{self.base}/ws/chat/{self.person}")
        await self.ws.send_json({"message": message})
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(frame.data)
            if event["type"] == "chunk":
                yield event["text"]
            elif event["type"] == "error":  # the turn failed; the socket stays open for the next one
                raise NonoError(event["status"], event["code"], event["message"])
            else:  # "done": the message and the whole reply are stored now
                return
        raise NonoError(0, "closed", "the sidecar closed the connection")

    async def personas(self) -> dict[str, Any]:
        return await self.call("GET", "/personas")

    async def history(self, limit: int) -> list[dict[str, Any]]:
        try:
            answer = await self.call("GET", f"/conversations/{self.person}/history", limit=limit)
        except NonoError as exc:
            if exc.code == "unknown_conversation":  # never used, or cleared: nothing to show
                return []
            raise
        return answer["messages"]

    async def switch(self, persona: str) -> dict[str, Any]:
        return await self.call("PUT", f"/conversations/{self.person}/persona", {"persona": persona})

    async def clear(self) -> bool:
        return (await self.call("DELETE", f"/conversations/{self.person}"))["cleared"]


async def command(nono: Nono, line: str) -> None:
    """Run one slash command and print its outcome."""
    name, _, argument = line.partition(" ")
    if name == "/personas":
        listed = await nono.personas()
        for persona in listed["personas"]:
            mark = " (default)" if persona["name"] == listed["default"] else ""
            print(f"  {persona['name']:<12} {persona['display_name']}{mark}: {persona['description']}")
    elif name == "/persona" and argument.strip():
        session = await nono.switch(argument.strip())
        print(f"Now talking to {session['persona']}.")
    elif name == "/history":
        messages = await nono.history(int(argument) if argument.strip().isdigit() else 10)
        for message in messages:
            who = "you" if message["role"] == "user" else message["metadata"].get("persona", "nono")
            print(f"  {who}: {message['content']}")
        if not messages:
            print("  (nothing yet)")
    elif name == "/clear":
        print("Forgotten." if await nono.clear() else "There was nothing to forget.")
    else:
        print(HELP)


def read_lines(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Put each line of stdin into `lines`, then None. Run in a daemon thread: Ctrl-C never waits for it."""
    for line in sys.stdin:
        loop.call_soon_threadsafe(lines.put_nowait, line)
    loop.call_soon_threadsafe(lines.put_nowait, None)


async def repl(nono: Nono) -> None:
    """Read lines until /quit or end of input: a slash command, or a message to chat."""
    session = await nono.start()
    print(f"Chatting as {nono.person} with {session['persona']}. /help lists the commands.")
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(target=read_lines, args=(asyncio.get_running_loop(), lines), daemon=True).start()
    while True:
        if sys.stdin.isatty():
            print("> ", end="", flush=True)
        line = await lines.get()
        if line is None or line.strip() == "/quit":
            return
        line = line.strip()
        if not line:
            continue
        try:
            if line.startswith("/"):
                await command(nono, line)
            else:
                print("nono: ", end="", flush=True)
                async for piece in nono.chat(line):
                    print(piece, end="", flush=True)  # shown as it arrives
                print()
        except NonoError as exc:
            print(f"\nerror: {exc}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Chat with Nono through its sidecar.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the sidecar (default: %(default)s)")
    parser.add_argument("--token", default=os.environ.get("NONO_TOKEN"), help="ADMIN_TOKEN (default: $NONO_TOKEN)")
    parser.add_argument("--user", default="me", help="who you are: the REST person rest:<user> (default: me)")
    args = parser.parse_args(argv)
    # Without a token the sidecar answers only local callers (and only on a loopback address).
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    async with aiohttp.ClientSession(headers=headers) as http:
        nono = Nono(http, args.url, args.user)
        try:
            await repl(nono)
        except (NonoError, aiohttp.ClientError) as exc:
            print(f"client.py: {exc}", file=sys.stderr)
            return 1
        finally:
            if nono.ws is not None:
                await nono.ws.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(130)
