"""P7W: P7's Redis reads served by two sidecar processes sharing one port vs the bare handler in two processes.

Subject: two `nono sidecar` processes, started as an operator starts them (settings in the environment:
STORE=redis under one random KEY_PREFIX holding P7's 10,000 sessions, ADMIN_TOKEN set so every request
is authenticated, SIDECAR_REUSE_PORT=true on one port: the kernel spreads the connections between
them). Baseline: two processes of P7's bare aiohttp app (`bench.p7_bare_process`: the very same JSON
documents from memory, `web.json_response`, nothing else) sharing another port the same way. P7's load
generator (its own process, 64 keep-alive connections, closed loop) hits one target at a time, in
rotating order: `GET /sessions/active` and `GET /session/{id}/history?limit=50` over 100 users.
Redis only: SQLite is one process's store.
"""

from __future__ import annotations

import json
from typing import Any

from bench.harness import Context, Row, log, median, ms
from bench.p7_sidecar_rps import CONCURRENCY, TOKEN, assign_bare_paths, documents, rotate, seed
from bench.parts import PERSONAS_DIR, delete_prefix, new_prefix
from bench.processes import Spec, clean_env, free_port, python_module, running
from nono.core.store.redis_store import RedisStore

PROCESSES = 2
GOAL_RPS, GOAL_P99 = 0.5, 2.0


def sidecar_specs(ctx: Context, prefix: str, port: int) -> list[Spec]:
    env = clean_env(
        STORE="redis", REDIS_URL=ctx.redis_url, KEY_PREFIX=prefix, ADMIN_TOKEN=TOKEN,
        SIDECAR_HOST="127.0.0.1", SIDECAR_PORT=str(port), SIDECAR_REUSE_PORT="true",
        PERSONAS_DIR=str(PERSONAS_DIR), LOG_LEVEL="INFO",
        LLM_BACKEND="ollama", OLLAMA_HOST="http://127.0.0.1:9",  # never asked: these reads need no model
    )  # fmt: skip
    return [
        Spec(f"sidecar-{n}", python_module("nono", "sidecar"), {**env, "DATA_DIR": str(ctx.workdir / f"data-{n}")})
        for n in range(PROCESSES)
    ]


def bare_specs(ctx: Context, targets: dict[str, dict[str, Any]], port: int) -> list[Spec]:
    path = ctx.workdir / "targets.json"
    path.write_text(json.dumps(targets))
    command = python_module("bench.p7_bare_process", "--port", str(port), "--targets", str(path))
    return [Spec(f"bare-{n}", command, clean_env()) for n in range(PROCESSES)]


async def run(ctx: Context) -> list[Row]:
    duration, rounds = ctx.pick((2.0, 1), (4.0, 2))
    prefix = new_prefix()
    sidecar_port, bare_port = free_port(), free_port()
    try:
        log("seeding 10,000 sessions")
        store = RedisStore.from_url(ctx.redis_url, prefix)
        try:
            await seed(store)
        finally:
            await store.aclose()
        async with running(sidecar_specs(ctx, prefix, sidecar_port), ctx.workdir, ready="sidecar_listening") as sides:
            url = f"http://127.0.0.1:{sidecar_port}"
            targets = await documents(url)
            specs = bare_specs(ctx, targets, bare_port)
            async with running(specs, ctx.workdir, ready="bare_listening") as bares:
                assign_bare_paths(targets)  # the paths the bare processes serve
                children = [*sides, *bares]
                before = [child.cpu_seconds() for child in children]
                label = f"redis, {PROCESSES} processes"
                results = await rotate(url, f"http://127.0.0.1:{bare_port}", targets, duration, rounds, label)
                cpu = {c.name: c.cpu_seconds() - b for c, b in zip(children, before, strict=True)}
    finally:
        await delete_prefix(ctx.redis_url, prefix)
    return report(results, cpu)


def report(results: dict[tuple[str, str], list[dict]], cpu: dict[str, float]) -> list[Row]:
    rows = []
    shares = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu.items())
    for name in sorted({name for name, _ in results}, reverse=True):
        bare, side = results[(name, "bare")], results[(name, "sidecar")]
        rps, bare_rps = median([r["rps"] for r in side]), median([r["rps"] for r in bare])
        p99, bare_p99 = median([r["p99"] for r in side]), median([r["p99"] for r in bare])
        ratio = rps / bare_rps
        statuses = sorted({s for r in side for s in r["statuses"]})
        ok = ratio >= GOAL_RPS and p99 <= GOAL_P99 * bare_p99 and statuses == ["200"]
        note = (
            f"{name}: {len(side)} runs of each, alternating; p99 {p99 / bare_p99:.2f}× the bare processes'; "
            f"p50 {ms(median([r['p50'] for r in side]), 1)} (bare {ms(median([r['p50'] for r in bare]), 1)}); "
            f"statuses {', '.join(statuses)}."
        )
        if not rows:
            note += f" CPU each process used over all the load (both targets): {shares}."
        rows.append(
            Row(
                "P7W",
                f"redis, {PROCESSES} sidecar processes sharing one port: `GET {name}`, 10,000 sessions stored, "
                f"c={CONCURRENCY}: RPS, p99",
                f"≥ {GOAL_RPS:.2f}× RPS; p99 ≤ {GOAL_P99:.0f}× bare p99",
                f"{rps:,.0f} req/s, p99 {ms(p99, 1)}",
                f"{bare_rps:,.0f} req/s, p99 {ms(bare_p99, 1)} (bare handler, {PROCESSES} processes)",
                ratio,
                ok,
                note,
            )
        )
    return rows
