"""P8: resident memory of `nono run`, idle and after 10,000 sessions were created through it.

`nono run` is started as its own process, configured only through the environment, in an empty
working directory: SQLite store (the default), the sidecar with ADMIN_TOKEN, Telegram pointed at the
loopback Bot API, LLM_BACKEND=ollama pointed at the loopback Ollama (a fake model behind the real
client) — both served by `bench.telegram_platform` in another process. Idle RSS is read from
/proc once the sidecar's /ready says every part is up. Then 10,000 sessions are created by real
turns, each answered by the model and stored: the first 1,000 by Telegram users (50 at a time,
through the whole adapter), the rest through the sidecar's `POST /chat` (32 at a time; a Telegram
turn costs the bot several Bot API calls, and 10,000 of them would not fit the time budget on two
cores). RSS is read after every 1,000 and at the end.

Baseline: a bare interpreter that imports the modules `nono run` imports (the dependency floor).
Discord is not started: its fake (SimCord) only runs inside the test process, so no separate
`nono run` process can connect to it; what importing discord.py adds is measured and noted.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.harness import Context, Row, log, mb, median
from bench.parts import PERSONAS_DIR
from bench.telegram_platform import TOKEN, Platform

ADMIN = "bench-admin-token-0123456789abcdef"
GOAL_IDLE, GOAL_GROWTH = 150 * 2**20, 10 * 2**20
#: Sessions are created by steady traffic, this many users at a time (P4 covers 1,000-user bursts).
BATCH, TELEGRAM_USERS, REST_CONCURRENCY = 50, 1000, 32
FLOOR_IMPORTS = (
    "import nono.bot.cli, nono.bot.runner, nono.adapters.http.app, nono.adapters.telegram.app, "
    "nono.core.llm.ollama_llm, nono.core.store.sqlite_store"
)


def rss(pid: int) -> int:
    """Resident set size of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def import_rss(imports: str) -> int:
    """RSS of a fresh interpreter right after `imports`."""
    code = f"{imports}\nfor l in open('/proc/self/status'):\n    l.startswith('VmRSS:') and print(l.split()[1])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return int(done.stdout.strip()) * 1024


async def settled_rss(pid: int, seconds: float = 3.0) -> int:
    """Median of a few readings after a quiet moment."""
    await asyncio.sleep(seconds)
    readings = []
    for _ in range(5):
        readings.append(rss(pid))
        await asyncio.sleep(0.4)
    return int(median(readings))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nono_command() -> list[str]:
    script = Path(sys.executable).with_name("nono")
    return [str(script), "run"] if script.exists() else [sys.executable, "-m", "nono", "run"]


def environment(platform: Platform, port: int, data_dir: Path) -> dict[str, str]:
    """Only what `nono run` needs, nothing inherited that could change it (no stray tokens)."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL") if k in os.environ}
    return {
        **keep,
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": platform.base_url,
        "LLM_BACKEND": "ollama",
        "OLLAMA_HOST": platform.info["ollama_url"],
        "MODEL_NAME": platform.info["ollama_model"],
        "DATA_DIR": str(data_dir),
        "PERSONAS_DIR": str(PERSONAS_DIR),
        "SIDECAR_HOST": "127.0.0.1",
        "SIDECAR_PORT": str(port),
        "ADMIN_TOKEN": ADMIN,
        # The fake model answers at once; room for a whole batch, so nobody is told the model is busy.
        "LLM_MAX_QUEUE": str(BATCH),
        "PTB_TIMEDELTA": "true",
    }


async def wait_ready(url: str, process: asyncio.subprocess.Process, timeout: float = 90) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"`nono run` exited with {process.returncode}; see its log")
            try:
                async with client.get(f"{url}/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError("`nono run` did not become ready")


async def active_total(url: str) -> int:
    import aiohttp

    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN}"}) as client,
        client.get(f"{url}/sessions/active?limit=1") as response,
    ):
        return (await response.json())["total"]


async def run(ctx: Context) -> list[Row]:
    sessions = ctx.pick(2000, 10_000)
    floor = import_rss(FLOOR_IMPORTS)
    discord_extra = import_rss(FLOOR_IMPORTS + ", nono.adapters.discord.bot") - floor
    platform = await Platform.start(ollama_replies=sessions + 100)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = ctx.workdir / "nono-run"
    workdir.mkdir()
    log_file = (ctx.workdir / "nono-run.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *nono_command(),
        cwd=workdir,
        env=environment(platform, port, workdir / "data"),
        stdout=log_file,
        stderr=log_file,
    )
    try:
        await wait_ready(url, process)
        idle = await settled_rss(process.pid)
        log(
            f"idle: {mb(idle)}; creating {sessions:,} sessions "
            f"({TELEGRAM_USERS:,} through Telegram, the rest over REST)"
        )
        results, curve = [], []
        for _ in range(TELEGRAM_USERS // BATCH):
            results.append(await platform.crowd(BATCH, 0, timeout=120, reply=platform.info["ollama_reply"]))
        curve.append(rss(process.pid))
        log(f"{TELEGRAM_USERS:,} Telegram users answered; RSS {mb(curve[-1])}")
        rest_ok = await rest_turns(url, sessions - TELEGRAM_USERS, lambda: curve.append(rss(process.pid)))
        after = await settled_rss(process.pid)
        total = await active_total(url)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
        log_file.close()
        await platform.stop()
    return report(idle, after, floor, discord_extra, total, results, rest_ok, curve)


async def rest_turns(url: str, count: int, every_thousand: Callable[[], None]) -> int:
    """`count` new users each run one turn through `POST /chat`; returns how many got a reply."""
    import aiohttp

    done = 0
    queue = iter(range(count))

    async def client_loop(client: aiohttp.ClientSession) -> None:
        nonlocal done
        for i in queue:
            async with client.post(f"{url}/chat", json={"user_id": f"rest:{i}", "message": "hello"}) as response:
                body = await response.json()
                if response.status == 200 and body.get("reply"):
                    done += 1
                    if done % 1000 == 0:
                        every_thousand()
                        log(f"{TELEGRAM_USERS + done:,} sessions")

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(REST_CONCURRENCY)))
    return done


def report(
    idle: int,
    after: int,
    floor: int,
    discord_extra: int,
    total: int,
    results: list[dict],
    rest_ok: int,
    curve: list[int],
) -> list[Row]:
    answered = sum(r["complete"] for r in results) + rest_ok
    growth = after - idle
    return [
        Row(
            "P8",
            "RSS of `nono run` idle (sidecar + Telegram to the loopback Bot API, Ollama backend to a fake)",
            f"≤ {mb(GOAL_IDLE)}",
            mb(idle),
            f"{mb(floor)} (interpreter + the modules it imports)",
            idle / floor,
            idle <= GOAL_IDLE,
            f"Discord not started (its fake runs only in-process); importing discord.py and the Discord adapter "
            f"adds {mb(discord_extra)}.",
        ),
        Row(
            "P8",
            f"RSS growth after {total:,} sessions were created by turns (Telegram, then REST)",
            f"≤ {mb(GOAL_GROWTH)}",
            f"+{mb(growth)} ({mb(after)})",
            mb(idle),
            after / idle,
            growth <= GOAL_GROWTH and answered == total,
            f"{answered:,} turns answered ({sum(r['complete'] for r in results):,} Telegram users, {BATCH} at a time; "
            f"the rest over POST /chat, {REST_CONCURRENCY} at a time); SQLite store (the default); RSS = median of 5 "
            f"readings after 3 s quiet. RSS after each 1,000 sessions: "
            f"{', '.join(f'{x / 2**20:.1f}' for x in curve)} MB.",
        ),
    ]
