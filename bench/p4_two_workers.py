"""P4W: P4 (a) with two webhook worker processes sharing one port: 1,000 Telegram users write at once.

Two processes (`bench.p4_worker`: `nono run` put together as the runner does it, with P4's paced model,
100 tokens at 20 tokens/s) run the Telegram adapter in webhook mode, each serving /telegram/webhook from
its sidecar on the same port (SIDECAR_REUSE_PORT=true: the kernel spreads the connections between
them), on one Redis (STORE=redis, a random KEY_PREFIX; each conversation ordered in its shared line
there). The loopback Telegram (`bench.telegram_platform`, its own process) posts every user's message
to that port as Telegram does (with the secret header, at most 40 requests at a time: Telegram's
default `max_connections`) and stops the clock when the last chat shows its complete reply. Flood
limits off on both sides (TELEGRAM_GLOBAL_RATE=0), as in P4 (a).

Judged as P4 (a): the wall time vs the ideal, one reply's 5 s (1-user runs alternate with the 1,000-user
ones, shown beside it); each user must get exactly one message, the complete reply to their own text.
"""

from __future__ import annotations

from collections import Counter

from bench.harness import Context, Row, log, logged_events, median, ms
from bench.p4_telegram_crowd import GOAL, IDEAL, REPLY_TOKENS, TOKEN_RATE, calls_seen
from bench.parts import PERSONAS_DIR, delete_prefix, new_prefix
from bench.processes import Spec, clean_env, free_port, python_module, running
from bench.telegram_platform import TOKEN, Platform

WORKERS = 2
CROWD = 1000
SECRET = "bench-webhook-secret-0123456789"
ADMIN = "bench-admin-token-0123456789abcdef"
#: Telegram's default `max_connections` for a webhook: requests it has open to the bot at once.
CONNECTIONS = 40


def worker_specs(ctx: Context, platform: Platform, prefix: str, port: int) -> list[Spec]:
    """The workers' settings: all the same but their data directory (nothing is kept there with STORE=redis)."""
    env = clean_env(
        TELEGRAM_TOKEN=TOKEN, TELEGRAM_BASE_URL=platform.base_url,
        TELEGRAM_WEBHOOK_URL="https://bot.example.org/telegram/webhook", TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_GLOBAL_RATE="0", ADMIN_TOKEN=ADMIN, STORE="redis", REDIS_URL=ctx.redis_url, KEY_PREFIX=prefix,
        SIDECAR_HOST="127.0.0.1", SIDECAR_PORT=str(port), SIDECAR_REUSE_PORT="true",
        PERSONAS_DIR=str(PERSONAS_DIR), LOG_LEVEL="INFO", PTB_TIMEDELTA="true",
    )  # fmt: skip
    command = python_module("bench.p4_worker", str(REPLY_TOKENS), str(TOKEN_RATE))
    return [
        Spec(f"worker-{n}", command, {**env, "DATA_DIR": str(ctx.workdir / f"worker-{n}" / "data")})
        for n in range(WORKERS)
    ]


async def run(ctx: Context) -> list[Row]:
    rounds = ctx.pick(1, 2)
    platform = await Platform.start()
    prefix = new_prefix()
    port = free_port()
    webhook = {"url": f"http://127.0.0.1:{port}/telegram/webhook", "secret": SECRET, "connections": CONNECTIONS}
    singles: list[dict] = []
    crowds: list[dict] = []
    cpu: list[list[float]] = []  # per 1,000-user run: CPU seconds each worker used, then the loopback Telegram
    telegram_cpu = 0.0
    try:
        specs = worker_specs(ctx, platform, prefix, port)
        async with running(specs, ctx.workdir, ready="running") as workers:
            for i in range(rounds):
                order = [(1, singles), (CROWD, crowds)] if i % 2 == 0 else [(CROWD, crowds), (1, singles)]
                for users, results in order:
                    log(f"{users} user(s), {WORKERS} webhook workers on port {port}, no global limit")
                    before = [worker.cpu_seconds() for worker in workers]
                    results.append(outcome := await platform.crowd(users, 0, timeout=60, webhook=webhook))
                    if users == CROWD:
                        used = [w.cpu_seconds() - b for w, b in zip(workers, before, strict=True)]
                        cpu.append([*used, outcome["cpu_s"] - telegram_cpu])
                    telegram_cpu = outcome["cpu_s"]  # its total so far
            turns = [worker.logged("turn_stored") for worker in workers]
    finally:
        await platform.stop()
        await delete_prefix(ctx.redis_url, prefix)
    events = sum((logged_events(worker.directory) for worker in workers), Counter())
    return report(singles, crowds, cpu, turns, events)


def report(
    singles: list[dict], crowds: list[dict], cpu: list[list[float]], turns: list[int], events: Counter[str]
) -> list[Row]:
    wall = median([c["wall"] for c in crowds])
    ratio = wall / IDEAL
    runs = singles + crowds
    lost = sum(r["lost"] for r in runs)
    wrong = sum(r["wrong_or_extra"] for r in runs)
    delivered = sum(r["users"] for r in runs)
    *worker_cpu, telegram_cpu = cpu[-1]
    last_cpu = ", ".join(f"{seconds:.1f} s" for seconds in worker_cpu)
    last_cpu += f" (the loopback Telegram: {telegram_cpu:.1f} s)"
    return [
        Row(
            "P4W",
            f"(a) {CROWD:,} Telegram users at once, {WORKERS} webhook worker processes sharing one port "
            "(SIDECAR_REUSE_PORT), no global flood limit: wall time",
            f"≤ {GOAL:.2f}× ideal",
            ms(wall, 0),
            f"{ms(IDEAL, 0)} ideal (1 user alone: {ms(median([s['wall'] for s in singles]), 0)})",
            ratio,
            ratio <= GOAL and all(c["lost"] == 0 for c in crowds),
            f"(a) {len(crowds)} runs of {CROWD:,} users alternating with 1-user runs; Redis store, shared lines; "
            f"updates posted to the webhook over at most {CONNECTIONS} connections. CPU used by each worker in "
            f"the last {CROWD:,}-user run: {last_cpu}; replies complete after (s): {spread(crowds[-1])}. Calls seen by "
            f"Telegram then: {calls_seen(crowds[-1])}.",
        ),
        Row(
            "P4W",
            f"replies lost or wrong across the {WORKERS} workers (every user exactly one message: the complete "
            "reply to their own text)",
            "0 lost",
            f"{lost} lost, {wrong} wrong/extra of {delivered:,}",
            ok=lost == 0 and wrong == 0 and not any(r["unexpected"] for r in runs),
            note=f"Turns stored by each worker over the benchmark: {', '.join(map(str, turns))}. The workers' "
            f"warnings and errors: {', '.join(f'{k} {v}' for k, v in events.most_common()) or 'none'}.",
        ),
    ]


def spread(result: dict) -> str:
    """When the replies of a run were complete, from the moment the messages were sent: p0, p10, p50, p90."""
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in result["done_at"].items())
