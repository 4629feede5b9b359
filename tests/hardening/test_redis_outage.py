"""Redis stopped (politely, or kill -9) in the middle of a stream of turns, seen through the running sidecar.

Nono is wired from Settings exactly as `nono sidecar` wires it (STORE=redis, REDIS_URL pointing at a
private redis-server with AOF `appendfsync always`) and served on a real port. Several users keep
chatting over REST and one over a WebSocket while the test stops Redis and starts it again on the
same port and files: users get "temporarily unavailable" answers, /ready turns 503 and back, no
request fails with anything else, and without restarting Nono turns work again. Every turn a user
saw answered is still stored afterwards, whole and in order.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nono.adapters.http import running as run_sidecar
from nono.bot.options import http_options
from nono.bot.services import open_services
from nono.core.llm.fake import FakeLLM
from nono.core.wording import STORE_UNAVAILABLE
from tests.adapters.http.helpers import AUTH, make_settings, metric_value
from tests.hardening.conftest import until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]
USERS = ("rest:ann", "rest:ben", "rest:77")
ANSWER = "Noted."


@dataclass
class Chatter:
    """One user sending turn after turn, remembering what came back."""

    user_id: str
    answered: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    other: list[tuple[int, Any]] = field(default_factory=list)  # anything but 200 / 503 store_unavailable
    failures_in_a_row: int = 0
    stop: bool = False

    async def run(self, http: aiohttp.ClientSession, url: str) -> None:
        """Turn after turn until told to stop (never cut off mid-request: every turn's outcome is known)."""
        for n in itertools.count():
            if self.stop:
                return
            text = f"{self.user_id} turn {n}"
            async with http.post(f"{url}/chat", headers=AUTH, json={"user_id": self.user_id, "message": text}) as r:
                body = await r.json(content_type=None)
            if r.status == 200 and body["reply"] == ANSWER:
                self.answered.append(text)
                self.failures_in_a_row = 0
            elif r.status == 503 and (body.get("code"), body.get("detail")) == ("store_unavailable", STORE_UNAVAILABLE):
                self.refused.append(text)
                self.failures_in_a_row += 1
            else:
                self.other.append((r.status, body))
            await asyncio.sleep(0.01)


async def ready(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with http.get(f"{url}/ready") as response:
        return response.status, await response.json()


async def ws_turn(ws: aiohttp.ClientWebSocketResponse, text: str) -> dict:
    """Send one message; the final frame (done or error)."""
    await ws.send_json({"message": text})
    while True:
        frame = await ws.receive_json(timeout=15)
        if frame["type"] != "chunk":
            return frame


async def scrape(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(f"{url}/metrics", headers=AUTH) as response:
        return await response.text()


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "kill-9"])
async def test_users_are_told_memory_is_unavailable_and_every_answered_turn_survives(
    tmp_path: Path, kill: bool
) -> None:
    redis = RedisServer(tmp_path, "--appendonly", "yes", "--appendfsync", "always").start()
    settings = make_settings(
        tmp_path, store="redis", redis_url=redis.url, personas_dir=ROOT / "personas",
        sidecar_host="127.0.0.1", sidecar_port=0, rate_limit_per_minute=0,
    )  # fmt: skip
    chatters = [Chatter(user) for user in USERS]
    try:
        async with (
            open_services(settings, llm=FakeLLM(default_reply=ANSWER)) as services,
            run_sidecar(services.chat, http_options(settings)) as sidecar,
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{sidecar.url}/ws/chat/rest:socket", headers=AUTH) as ws,
        ):
            url = sidecar.url
            assert (await ws_turn(ws, "before"))["reply"] == ANSWER
            drivers = [asyncio.create_task(c.run(http, url)) for c in chatters]
            await until(lambda: all(len(c.answered) >= 3 for c in chatters), what="turns before the outage")

            redis.stop(kill=kill)  # mid-stream: the drivers keep sending
            await until(lambda: all(c.failures_in_a_row >= 3 for c in chatters), what="refusals during the outage")
            assert await ready(http, url) == (
                503,
                {"status": "failing", "checks": {"store": "failing", "llm": "ok"}, "backends": {"fake": "ok"}},
            )
            async with http.get(f"{url}/health") as health:
                assert health.status == 200, "liveness does not depend on Redis: nothing to restart"
            error = await ws_turn(ws, "during the outage")
            assert error == {"type": "error", "status": 503, "code": "store_unavailable", "message": STORE_UNAVAILABLE}
            down = await scrape(http, url)
            assert metric_value(down, "nono_store_up") == 0
            assert metric_value(down, "nono_errors_total", kind="store_unavailable") >= 3

            redis.start()  # same port, same append-only file; Nono keeps running
            answered_before = {c.user_id: len(c.answered) for c in chatters}
            await until(
                lambda: all(len(c.answered) >= answered_before[c.user_id] + 3 for c in chatters),
                what="turns after the restart",
            )
            for chatter in chatters:
                chatter.stop = True
            await asyncio.gather(*drivers)
            assert await ready(http, url) == (
                200,
                {"status": "ok", "checks": {"store": "ok", "llm": "ok"}, "backends": {"fake": "ok"}},
            )
            assert (await ws_turn(ws, "after"))["reply"] == ANSWER, "the same socket works again"
            up = await scrape(http, url)
            assert metric_value(up, "nono_store_up") == 1
            assert metric_value(up, "nono_errors_total", kind="internal") == 0

            for chatter in chatters:
                assert chatter.other == [], f"{chatter.user_id} got answers other than a reply or 'unavailable'"
                assert chatter.refused, f"{chatter.user_id} never noticed the outage"
                stored = [m.content for m in await services.chat.history(chatter.user_id, 100_000)]  # every turn
                assert_durable(chatter, stored)
            socket = [m.content for m in await services.chat.history("rest:socket", 100)]
            assert socket == ["before", ANSWER, "after", ANSWER]
    finally:
        redis.stop()


def assert_durable(chatter: Chatter, stored: list[str]) -> None:
    """Whole turns only, in order; every answered turn kept; nothing refused kept, except perhaps the one
    that was in flight when Redis went away (Redis may have written it and died before saying so)."""
    assert stored[1::2] == [ANSWER] * (len(stored) // 2) and len(stored) % 2 == 0, "only whole turns are stored"
    messages = stored[0::2]
    attempted = sorted(chatter.answered + chatter.refused, key=lambda text: int(text.rsplit(" ", 1)[1]))
    assert messages == [text for text in attempted if text in messages], "stored in the order they were sent"
    assert set(chatter.answered) <= set(messages), "an answered turn was lost"
    assert set(messages) - set(chatter.answered) <= {chatter.refused[0]}
