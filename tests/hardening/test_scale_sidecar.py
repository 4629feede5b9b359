"""Three real `nono sidecar` processes on one Redis serving one bot: order, crashes and freezes across them.

One person's messages go to the three processes in turn (REST `POST /chat`), as a load balancer
would spread them; the model (a loopback Ollama) answers `re: <message>` slowly. Whatever process
a message reached, the conversation is answered one turn at a time in arrival order, and another
person is served meanwhile. A process killed, or frozen (SIGSTOP) past LOCK_LEASE while answering,
releases the conversation; the frozen one's late write is refused when it wakes.
"""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.conftest import REDIS_URL
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama, running_ollama
from tests.support.nono_process import healthy, nono_env, start_logged
from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow

LEASE = 1.0
ALICE = "rest:alice"


class Sidecar:
    """One `nono sidecar` process: its URL, its log, the process."""

    def __init__(self, url: str, log: Path, process: asyncio.subprocess.Process) -> None:
        self.url, self.log, self.process = url, log, process

    async def chat(self, http: aiohttp.ClientSession, user: str, text: str) -> str:
        async with http.post(f"{self.url}/chat", json={"user_id": user, "message": text}) as response:
            body = await response.json()
            assert response.status == 200, body
            return body["reply"]


@asynccontextmanager
async def cluster(
    tmp_path: Path, count: int, **settings: str
) -> AsyncIterator[tuple[list[Sidecar], FakeOllama, aioredis.Redis, str]]:
    """`count` sidecars on one Redis prefix and one loopback Ollama; the test's own Redis client and the prefix."""
    prefix = f"nono-test:{uuid.uuid4().hex}:"
    client = aioredis.from_url(REDIS_URL)
    async with running_ollama() as (ollama_url, ollama):
        sidecars = []
        for n in range(count):
            port, log = free_port(), tmp_path / f"nono-{n}.log"
            env = nono_env(
                tmp_path, STORE="redis", REDIS_URL=REDIS_URL, KEY_PREFIX=prefix, LLM_BACKEND="ollama",
                OLLAMA_HOST=ollama_url, MODEL_NAME=DEFAULT_MODEL, SIDECAR_PORT=str(port), LOCK_LEASE=str(LEASE),
                TURN_LEASE=str(LEASE), RATE_LIMIT_PER_MINUTE="0", MAX_PENDING_PER_USER="100", MEMORY_SUMMARY="off",
                MAX_CONTEXT_MESSAGES="100",
            )  # fmt: skip
            env.update(settings)
            process = await start_logged(tmp_path, env, log, "sidecar")
            sidecars.append(Sidecar(f"http://127.0.0.1:{port}", log, process))
        try:
            async with aiohttp.ClientSession() as http:
                await asyncio.gather(*(healthy(http, sidecar.url, sidecar.log) for sidecar in sidecars))
            yield sidecars, ollama, client, prefix
        finally:
            for sidecar in sidecars:
                if sidecar.process.returncode is None:
                    sidecar.process.send_signal(signal.SIGCONT)
                    sidecar.process.kill()
                    await sidecar.process.wait()
            async for key in client.scan_iter(match=f"{prefix}*", count=500):
                await client.delete(key)
            await client.aclose()


async def entered(client: aioredis.Redis, prefix: str, conversation: str) -> int:
    """Messages of `conversation` in its line or answered: read together, as the turn's write moves one."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.llen(f"{prefix}conv:{{{conversation}}}:line")
        pipe.llen(f"{prefix}conv:{{{conversation}}}:history")
        waiting, stored = await pipe.execute()
    return waiting + stored // 2


async def history(http: aiohttp.ClientSession, sidecar: Sidecar, conversation: str) -> list[str]:
    async with http.get(f"{sidecar.url}/conversations/{conversation}/history", params={"limit": "100"}) as response:
        body = await response.json()
        assert response.status == 200, body
        return [m["content"] for m in body["messages"]]


async def test_thirty_messages_spread_over_three_processes_are_answered_in_arrival_order(tmp_path: Path):
    async with cluster(tmp_path, 3) as (sidecars, ollama, client, prefix), aiohttp.ClientSession() as http:
        ollama.echo(delay=0.05)
        sent = []
        for n in range(30):
            sent.append(asyncio.create_task(sidecars[n % 3].chat(http, "alice", f"m{n}")))
            # Arrival order is the order the processes took their seats: the next is sent once this one has.
            async with asyncio.timeout(10):
                while await entered(client, prefix, ALICE) < n + 1:
                    await asyncio.sleep(0.005)
            if n == 10:
                bob = await asyncio.wait_for(sidecars[2].chat(http, "bob", "meanwhile"), timeout=5)
                assert bob == "re: meanwhile", "another conversation is served while alice's line is long"
                assert not all(task.done() for task in sent)

        answers = await asyncio.wait_for(asyncio.gather(*sent), timeout=60)

        assert answers == [f"re: m{n}" for n in range(30)]
        expected = [text for n in range(30) for text in (f"m{n}", f"re: m{n}")]
        assert await history(http, sidecars[1], ALICE) == expected
        # every prompt held every turn before it
        prompts = [r for r in ollama.chat_requests if re.fullmatch(r"m\d+", r["messages"][-1]["content"])]
        assert sorted(len([m for m in r["messages"] if m["role"] != "system"]) for r in prompts) == [
            2 * n + 1 for n in range(30)
        ]


async def test_a_killed_holder_releases_the_conversation_after_the_lease_and_nothing_else_stalls(tmp_path: Path):
    async with cluster(tmp_path, 3) as (sidecars, ollama, _, _), aiohttp.ClientSession() as http:
        ollama.enqueue(["Once", " upon"], delay=0.2, end="stall")  # alice's first turn, still writing when killed
        ollama.echo()
        first = asyncio.create_task(sidecars[0].chat(http, "alice", "tell me a story"))
        async with asyncio.timeout(10):
            while not ollama.chat_requests:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        sidecars[0].process.kill()
        await sidecars[0].process.wait()
        with pytest.raises(aiohttp.ClientError):
            await first

        assert await asyncio.wait_for(sidecars[2].chat(http, "bob", "hi"), timeout=LEASE / 2) == "re: hi"
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.wait_for(sidecars[1].chat(http, "alice", "still there?"), 10) == "re: still there?"
        assert loop.time() - started <= LEASE + 2
        assert await history(http, sidecars[1], ALICE) == ["still there?", "re: still there?"], (
            "the killed turn was never answered, so nothing of it is stored"
        )


async def test_a_holder_frozen_past_the_lease_wakes_up_and_its_late_write_is_refused(tmp_path: Path):
    async with cluster(tmp_path, 2) as (sidecars, ollama, _, _), aiohttp.ClientSession() as http:
        ollama.enqueue(["Once", " upon", " a", " time"], delay=0.3)  # alice's first turn, frozen midway
        ollama.echo()
        frozen = sidecars[0]
        first = asyncio.create_task(frozen.chat(http, "alice", "tell me a story"))
        async with asyncio.timeout(10):
            while not ollama.chat_requests:
                await asyncio.sleep(0.01)
        frozen.process.send_signal(signal.SIGSTOP)

        answer = await asyncio.wait_for(sidecars[1].chat(http, "alice", "are you there?"), timeout=LEASE * 5)
        assert answer == "re: are you there?"
        frozen.process.send_signal(signal.SIGCONT)
        await asyncio.wait_for(first, timeout=10)  # it finishes its reply to its client, late

        async with asyncio.timeout(10):
            while "turn_fenced_off" not in frozen.log.read_text():
                await asyncio.sleep(0.05)
        assert await history(http, sidecars[1], ALICE) == ["are you there?", "re: are you there?"], (
            "the woken holder's write came after a later turn: refused, nothing stored twice or out of order"
        )
        # and the line works again for both
        assert await frozen.chat(http, "alice", "again") == "re: again"


async def test_the_rate_limit_over_three_processes_is_the_limit_of_one(tmp_path: Path):
    async with cluster(tmp_path, 3, RATE_LIMIT_PER_MINUTE="4") as (sidecars, ollama, _, _):
        ollama.echo()
        async with aiohttp.ClientSession() as http:
            for n in range(4):
                assert await sidecars[n % 3].chat(http, "alice", f"m{n}") == f"re: m{n}"
            for sidecar in sidecars:  # a person moved to another process by the balancer is still limited
                async with http.post(f"{sidecar.url}/chat", json={"user_id": "alice", "message": "more"}) as response:
                    body = await response.json()
                    assert response.status == 429, body
                    assert 1 <= int(response.headers["Retry-After"]) <= 60
            assert await sidecars[1].chat(http, "bob", "hi") == "re: hi", "the limit is per person"
            assert len(await history(http, sidecars[2], ALICE)) == 8, "refused messages store nothing"
