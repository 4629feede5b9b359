"""Several real `nono run` processes serving one Telegram bot on the real Redis (LOCK_LEASE=1, TURN_LEASE=1).

Polling, three processes: the fake Telegram listens on one port per process, so it knows who calls
getUpdates. Exactly one process polls. Killed with `kill -9`, another takes the lead once the dead
one's lease runs out and answers what was said meanwhile. That one frozen (SIGSTOP) past its lease,
the third takes over; woken up, the frozen one finds its lead gone and stops polling. Nothing is
answered twice, nothing is lost.

Webhook, two processes on one port (SIDECAR_REUSE_PORT=true, the kernel spreads the connections):
200 people write twice each, the second message posted once the first's POST returned. Each message
is answered once, each conversation is stored in order, and both processes did turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from nono.core.store.redis_store import RedisStore
from tests.conftest import REDIS_URL
from tests.fakes.ollama_server import DEFAULT_MODEL, running_ollama
from tests.fakes.telegram_server import TOKEN, FakeTelegram
from tests.support.nono_process import nono_env, start_logged, until
from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow

SECRET = "scale-test-webhook-secret"
ANSWER = "Noted."
PEOPLE = 200


async def logged(log: Path, event: str) -> bool:
    return log.exists() and f'"event": "{event}"' in log.read_text()


@asynccontextmanager
async def nono_runs(
    tmp_path: Path, envs: list[dict[str, str]]
) -> AsyncIterator[tuple[list[asyncio.subprocess.Process], list[Path]]]:
    """One `nono run` per env, each with its own log and data directory, running; killed at the end if alive."""
    logs = [tmp_path / f"nono-{n}.log" for n in range(len(envs))]
    processes: list[asyncio.subprocess.Process] = []
    try:
        for n, env in enumerate(envs):
            processes.append(await start_logged(tmp_path, {**env, "DATA_DIR": str(tmp_path / f"data-{n}")}, logs[n]))
        for log in logs:
            await until(lambda log=log: logged(log, "running"), "every process to run", log)
        yield processes, logs
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


@asynccontextmanager
async def telegram_on_ports(count: int) -> AsyncIterator[tuple[FakeTelegram, list[int], list[tuple[str, int]]]]:
    """The fake Telegram on `count` loopback ports; every call is also recorded as (method, port it came in on)."""
    tg = FakeTelegram()
    doors: list[tuple[str, int]] = []

    @web.middleware
    async def record_door(request: web.Request, handler):
        doors.append((request.match_info.get("method", ""), request.transport.get_extra_info("sockname")[1]))
        return await handler(request)

    app = tg.app()
    app.middlewares.append(record_door)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    ports = [free_port() for _ in range(count)]
    for port in ports:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield tg, ports, doors
    finally:
        await runner.cleanup()
    # A request cut by the process the test killed is the crash itself; anything else is a fault to fix.
    unexpected = [problem for problem in tg.unexpected if "ConnectionResetError" not in problem]
    assert not unexpected, unexpected


def pollers(doors: list[tuple[str, int]], since: int = 0) -> set[int]:
    """The ports getUpdates came in on, from the `since`-th call on."""
    return {port for method, port in doors[since:] if method == "getUpdates"}


def answers(tg: FakeTelegram, people: range) -> list[int]:
    """How many messages the bot sent in each person's private chat (drafts are not messages)."""
    return [len(tg.calls_to("sendMessage", person)) for person in people]


async def telegram_ready(env: dict[str, str]) -> str:
    """What the process's /ready says of its Telegram part."""
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{env['SIDECAR_PORT']}/ready") as response:
        return (await response.json())["checks"]["telegram"]


def shared_env(tmp_path: Path, prefix: str, ollama_url: str, **values: str) -> dict[str, str]:
    """One Redis (this test's KEY_PREFIX), short leases, the fake model; `values` on top."""
    settings = dict(
        STORE="redis", REDIS_URL=REDIS_URL, KEY_PREFIX=prefix, LOCK_LEASE="1", TURN_LEASE="1",
        OLLAMA_HOST=ollama_url, MODEL_NAME=DEFAULT_MODEL, TELEGRAM_TOKEN=TOKEN, PTB_TIMEDELTA="true",
    )  # fmt: skip
    return nono_env(tmp_path, **{**settings, **values})


async def test_one_process_polls_and_another_takes_over_after_kill_9_or_sigstop(
    tmp_path: Path, redis_prefix: str
) -> None:
    people = range(3001, 3005)
    async with running_ollama() as (ollama_url, ollama), telegram_on_ports(3) as (tg, ports, doors):
        users = [tg.add_user(person, f"Person {person}") for person in people]
        rounds = ["Before the crash?", "After the crash?", "While it sleeps?", "Once it woke?"]
        for _ in range(len(rounds) * len(users)):
            ollama.enqueue([ANSWER])
        envs = [
            shared_env(tmp_path, redis_prefix, ollama_url, SIDECAR_PORT=str(free_port()), TELEGRAM_BASE_URL=base_url)
            for base_url in (f"http://127.0.0.1:{port}/bot" for port in ports)  # process n talks to port n
        ]

        async def say(n: int) -> None:
            """Everyone says round `n`'s line; each is answered."""
            for user in users:
                tg.say(user, tg.chats[user["id"]], rounds[n])
            await tg.wait_for(lambda: answers(tg, people) == [n + 1] * len(users))

        async def next_leader(candidates: list[int]) -> int:
            """The candidate that takes the lead: LOCK_LEASE is 1 s, a follower tries every third of it."""

            async def leaders() -> list[int]:
                return [n for n in candidates if await logged(logs[n], "telegram_poll_leading")]

            await until(leaders, "another process to take the lead", logs[candidates[0]], timeout=10)
            [leader] = await leaders()
            return leader

        async with nono_runs(tmp_path, envs) as (processes, logs):
            await say(0)
            [first] = [ports.index(port) for port in pollers(doors)]  # the others only tried for the lead
            assert [await telegram_ready(env) for env in envs] == ["ok"] * 3, "a follower is ready too"
            processes[first].kill()  # a crash: its lead is left to run out
            await processes[first].wait()
            killed = len(doors)
            second = await next_leader([n for n in range(3) if n != first])
            await say(1)  # said while nobody polled: waiting at Telegram for the next poller

            [third] = [n for n in range(3) if n not in (first, second)]
            processes[second].send_signal(signal.SIGSTOP)  # frozen past its lease: it cannot renew
            stopped = len(doors)
            assert await next_leader([third]) == third
            await say(2)
            processes[second].send_signal(signal.SIGCONT)
            await until(lambda: logged(logs[second], "telegram_poll_following"), "the woken one to stop", logs[second])
            woke = len(doors)
            await say(3)

        assert pollers(doors[killed:stopped]) == {ports[second]}, "one poller at a time"
        assert pollers(doors[woke:]) == {ports[third]}, "the woken process stopped polling"
        assert answers(tg, people) == [len(rounds)] * len(users), "each message answered once"
        asked = [r["messages"][-1]["content"] for r in ollama.chat_requests]
        assert sorted(asked) == sorted(rounds * len(users)), "each message reached the model once"


async def post(http: aiohttp.ClientSession, url: str, update: dict) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(f"{url}/telegram/webhook", json=update, headers=headers) as response:
        return response.status


async def converse(http: aiohttp.ClientSession, url: str, tg: FakeTelegram, person: int) -> list[int]:
    """Two messages in the person's private chat, the second once the first's webhook POST returned."""
    user, chat = tg.users[person], tg.chats[person]
    return [await post(http, url, tg.make_update(user, chat, f"{person} says {n}")) for n in ("one", "two")]


async def all_stored(store: RedisStore, people: range) -> bool:
    """Whether both turns of every conversation are stored."""
    histories = await asyncio.gather(*(store.history(f"telegram:{person}", 10) for person in people))
    return all(len(history) >= 4 for history in histories)


def in_order(person: int) -> list[tuple[str, str]]:
    return [
        ("user", f"{person} says one"),
        ("assistant", ANSWER),
        ("user", f"{person} says two"),
        ("assistant", ANSWER),
    ]


async def test_two_webhook_workers_on_one_port_answer_200_conversations_once_in_order(
    tmp_path: Path, redis_prefix: str
) -> None:
    people = range(5001, 5001 + PEOPLE)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with (
        running_ollama() as (ollama_url, ollama), telegram_on_ports(1) as (tg, ports, _),
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as http,
    ):  # fmt: skip
        for person in people:
            tg.add_user(person, f"Person {person}")
        for _ in range(2 * PEOPLE):
            ollama.enqueue([ANSWER])
        env = shared_env(
            tmp_path, redis_prefix, ollama_url, SIDECAR_PORT=str(port), SIDECAR_REUSE_PORT="true",
            ADMIN_TOKEN="scale-test-admin-token", TELEGRAM_BASE_URL=f"http://127.0.0.1:{ports[0]}/bot",
            TELEGRAM_WEBHOOK_URL="https://bot.example.org/telegram/webhook", TELEGRAM_WEBHOOK_SECRET=SECRET,
            TELEGRAM_GLOBAL_RATE="0", LLM_MAX_QUEUE="500",  # 400 turns at once: no pacing, no "busy" refusals
            LOCK_LEASE="2",  # 400 turns on 2 cores stall an event loop for a while: a lease of 1 s is too tight
        )  # fmt: skip
        store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
        try:
            async with nono_runs(tmp_path, [env, env]) as (_, logs):
                statuses = await asyncio.gather(*(converse(http, url, tg, person) for person in people))
                with contextlib.suppress(TimeoutError):  # what is missing by then, the assertions below show
                    async with asyncio.timeout(40):
                        while min(answers(tg, people)) < 2 or not await all_stored(store, people):
                            await asyncio.sleep(0.1)
            histories = [await store.history(f"telegram:{person}", 10) for person in people]
        finally:
            await store.aclose()
        done = [log.read_text().count('"event": "turn_stored"') for log in logs]

    assert statuses == [[200, 200]] * PEOPLE
    assert answers(tg, people) == [2] * PEOPLE, "each message answered once"
    assert len(ollama.chat_requests) == 2 * PEOPLE
    assert sum(done) == 2 * PEOPLE and min(done) > 0, f"both processes did turns: {done}"
    stored = {person: [(m.role, m.content) for m in history] for person, history in zip(people, histories, strict=True)}
    out_of_order = {person: history for person, history in stored.items() if history != in_order(person)}
    assert not out_of_order, (
        f"{len(out_of_order)} conversations stored out of order, e.g. {next(iter(out_of_order.items()))}"
    )
