"""P7: the sidecar's REST reads under load, with 10,000 sessions stored, vs a bare aiohttp JSON handler.

In this process: the real sidecar (the HTTP adapter's `running` over `open_services`, ADMIN_TOKEN set, so every
request is authenticated) and, on another port of the same event loop, a bare aiohttp app whose
handlers return the very same JSON documents from memory (`web.json_response`, nothing else). A
separate load-generator process (`bench.http_load`, 64 keep-alive connections, closed loop) hits
one target at a time, in rotating order:

- `GET /sessions/active` (the first page of 50 among 10,000 active sessions, plus the total);
- `GET /session/{id}/history?limit=50`, spread over 100 users with 60 stored messages each;

each against the bare handler serving the same document. Both stores (SQLite and Redis).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from aiohttp import web

from bench.harness import Context, Row, log, median, ms
from bench.parts import DEFAULT_PERSONA, PERSONAS_DIR, delete_prefix, new_prefix
from nono.core.llm.fake import FakeLLM
from nono.core.models import Message

SESSIONS, HISTORY_USERS, HISTORY_MESSAGES = 10_000, 100, 60
CONCURRENCY = 64
TOKEN = "bench-admin-token-0123456789abcdef"
GOAL_RPS, GOAL_P99 = 0.25, 0.020


async def run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    for store in ("sqlite", "redis"):
        rows += await measure(ctx, store)
    return rows


async def measure(ctx: Context, store: str) -> list[Row]:
    from nono.adapters import http
    from nono.bot.options import http_options
    from nono.bot.services import open_services
    from nono.bot.settings import Settings

    duration, rounds = ctx.pick((2.0, 1), (4.0, 2))
    prefix = new_prefix()
    data_dir = ctx.workdir / store
    settings = Settings(
        _env_file=None,
        store=store,
        redis_url=ctx.redis_url,
        key_prefix=prefix,
        data_dir=data_dir,
        personas_dir=PERSONAS_DIR,
        admin_token=TOKEN,
        sidecar_host="127.0.0.1",
        sidecar_port=0,
    )
    try:
        async with (
            open_services(settings, llm=FakeLLM()) as services,
            http.running(services.chat, http_options(settings)) as sidecar,
        ):
            url = sidecar.url
            log(f"{store}: seeding {SESSIONS:,} sessions")
            await seed(services.store)
            targets = await documents(url)
            async with bare_server(targets) as bare_url:
                results = await rotate(url, bare_url, targets, duration, rounds, store)
    finally:
        if store == "redis":
            await delete_prefix(ctx.redis_url, prefix)
    return report(store, results)


async def seed(store: Any) -> None:
    """10,000 sessions, the first 100 with 60 messages each (the history targets), the rest with 2."""
    now = time.time()

    async def one(i: int) -> None:
        count = HISTORY_MESSAGES if i < HISTORY_USERS else 2
        messages = [
            Message("user" if k % 2 == 0 else "assistant", f"message {k} of user {i}", now - count + k)
            for k in range(count)
        ]
        await store.append_turn(f"telegram:{800000 + i}", DEFAULT_PERSONA, messages, now - i * 0.01)

    for start in range(0, SESSIONS, 500):  # bounded concurrency: the store's own pool limits apply
        await asyncio.gather(*(one(i) for i in range(start, min(start + 500, SESSIONS))))


async def documents(url: str) -> dict[str, dict[str, Any]]:
    """Each target's paths on the sidecar, and one real response of each, for the bare server to replay."""
    import aiohttp

    history_paths = [f"/session/telegram:{800000 + i}/history?limit=50" for i in range(HISTORY_USERS)]
    targets = {
        "/sessions/active": {"paths": ["/sessions/active"]},
        "/session/{id}/history?limit=50": {"paths": history_paths},
    }
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for target in targets.values():
            async with client.get(url + target["paths"][0]) as response:
                assert response.status == 200, f"{target['paths'][0]}: HTTP {response.status}"
                target["document"] = await response.json()
    assert targets["/sessions/active"]["document"]["total"] >= SESSIONS, "the sessions were not all active"
    return targets


def assign_bare_paths(targets: dict[str, dict[str, Any]]) -> None:
    """Give each target its path on the bare server: `/bare/0`, `/bare/1`, ... in the targets' order."""
    for i, target in enumerate(targets.values()):
        target["bare"] = [f"/bare/{i}"]


class _BareServer:
    def __init__(self, targets: dict[str, dict[str, Any]], port: int = 0, reuse_port: bool = False) -> None:
        self.app = web.Application()
        assign_bare_paths(targets)
        for target in targets.values():
            self.app.router.add_get(target["bare"][0], self._handler(target["document"]))
        self.runner = web.AppRunner(self.app, access_log=None)
        self.port = port
        self.reuse_port = reuse_port

    @staticmethod
    def _handler(document: dict[str, Any]):
        async def handle(request: web.Request) -> web.Response:
            return web.json_response(document)

        return handle

    async def __aenter__(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_port=self.reuse_port or None)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def __aexit__(self, *exc_info: object) -> None:
        await self.runner.cleanup()


def bare_server(targets: dict[str, dict[str, Any]], port: int = 0, reuse_port: bool = False) -> _BareServer:
    """The baseline: an aiohttp app that returns each target's JSON document from memory (on `port`; with
    `reuse_port`, sharing it with other processes)."""
    return _BareServer(targets, port, reuse_port)


async def rotate(url: str, bare_url: str, targets: dict, duration: float, rounds: int, store: str) -> dict:
    runs = [(name, kind) for name in targets for kind in ("bare", "sidecar")]
    results: dict[tuple[str, str], list[dict]] = {run: [] for run in runs}
    for i in range(rounds):
        for name, kind in runs[i % len(runs) :] + runs[: i % len(runs)]:
            base, paths = (bare_url, targets[name]["bare"]) if kind == "bare" else (url, targets[name]["paths"])
            log(f"{store}: {kind} {name}, {duration:.0f} s at c={CONCURRENCY}")
            results[(name, kind)].append(await load(base, paths, duration))
    return results


async def load(base: str, paths: list[str], duration: float) -> dict[str, Any]:
    """Run the load generator process against `paths` and return what it measured."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.http_load",
        "--base",
        base,
        "--paths",
        *paths,
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--concurrency",
        str(CONCURRENCY),
        "--duration",
        str(duration),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the load generator failed (exit {process.returncode})")
    return json.loads(out)


def report(store: str, results: dict[tuple[str, str], list[dict]]) -> list[Row]:
    rows = []
    names = sorted({name for name, _ in results}, reverse=True)
    for name in names:
        bare, side = results[(name, "bare")], results[(name, "sidecar")]
        rps, bare_rps = median([r["rps"] for r in side]), median([r["rps"] for r in bare])
        p99, bare_p99 = median([r["p99"] for r in side]), median([r["p99"] for r in bare])
        ratio = rps / bare_rps
        statuses = sorted({s for r in side for s in r["statuses"]})
        ok = ratio >= GOAL_RPS and p99 <= GOAL_P99 and statuses == ["200"]
        rows.append(
            Row(
                "P7",
                f"{store}: `GET {name}`, 10,000 sessions stored, c={CONCURRENCY}: RPS, p99",
                f"≥ {GOAL_RPS:.2f}× RPS; p99 ≤ {ms(GOAL_P99, 0)}",
                f"{rps:,.0f} req/s, p99 {ms(p99, 1)}",
                f"{bare_rps:,.0f} req/s, p99 {ms(bare_p99, 1)} (bare handler)",
                ratio,
                ok,
                f"{store} {name}: {len(side)} runs of each, alternating; "
                f"p50 {ms(median([r['p50'] for r in side]), 1)}; "
                f"statuses {', '.join(statuses)}; load generator in its own process.",
            )
        )
    return rows
