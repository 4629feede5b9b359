"""P2: what a turn costs when the model costs nothing — p50/p99 latency and Redis round trips per turn.

Subject: `ChatService.stream` consumed to the end, with a FakeLLM that yields a 20-word reply without
ever waiting, on the real Redis (RedisStore, random prefix), production logging (JSON lines at INFO,
into a file), 50 users whose windows are already full. Baseline: the same store's `load_context` and
`append_turn` called back to back — the two round trips a turn cannot avoid — so the difference is
the core's own work (validation, per-user line, prompt building, streaming, the listener hook).
Round trips are counted by a redis-py connection class that counts every request it sends, for these
turns and for turns delivered the way Discord and Telegram deliver them (recorded in flight, one
platform message shown, stored once delivered).
"""

from __future__ import annotations

import itertools
import time

from bench.harness import Context, Row, alternate, log, median, ms, percentile
from bench.parts import RoundTrips, bench_personas, counting_redis, redis_store
from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.models import Message

USERS = 50
TEXT = "Hey Nono, what would be a good name for a grey cat who likes boxes?"
REPLY = " ".join(f"word{i}" for i in range(20))
GOAL_P50, GOAL_P99, GOAL_TRIPS, GOAL_DELIVERED_TRIPS = 0.001, 0.003, 2, 3


async def run(ctx: Context) -> list[Row]:
    batches, per_batch = ctx.pick((8, 50), (40, 100))
    client, trips = counting_redis(ctx.redis_url)
    async with redis_store(ctx.redis_url, client) as store:
        chat = ChatService(store, FakeLLM(default_reply=REPLY), bench_personas(), ChatLimits())
        users = itertools.cycle([f"telegram:{700000 + i}" for i in range(USERS)])
        turn_times: list[float] = []
        store_times: list[float] = []
        counted = {"turns": 0, "trips": 0}

        async def subject() -> None:
            start_trips = trips.count
            for _ in range(per_batch):
                user = next(users)
                began = time.perf_counter()
                await chat.reply(user, TEXT)
                turn_times.append(time.perf_counter() - began)
            counted["turns"] += per_batch
            counted["trips"] += trips.count - start_trips

        async def baseline() -> None:
            for _ in range(per_batch):
                user = next(users)
                began = time.perf_counter()
                await store.load_context(user, chat.limits.max_context_messages)
                now = time.time()
                await store.append_turn(
                    user, "assistant", [Message("user", TEXT, now), Message("assistant", REPLY, now)], now
                )
                store_times.append(time.perf_counter() - began)

        log("warm-up: every user's window filled")
        for _ in range(USERS * chat.limits.max_context_messages // 2):
            await chat.reply(next(users), TEXT)
        turn_times.clear()
        log(f"{batches} batches of {per_batch} turns, alternating with the bare store calls")
        await alternate(batches, baseline, subject)
        delivered = await delivered_trips(chat, users, trips, per_batch)
    return report(turn_times, store_times, counted["trips"] / counted["turns"], delivered)


async def delivered_trips(chat: ChatService, users: itertools.cycle[str], trips: RoundTrips, turns: int) -> float:
    """Round trips per turn delivered as a platform adapter delivers it: recorded, one message, delivered."""
    start = trips.count
    for _ in range(turns):
        async with chat.stream(next(users), TEXT, place={"chat_id": 1}) as reply:
            async for _chunk in reply:
                pass
            await reply.shown(1)
            await reply.delivered()
    return (trips.count - start) / turns


def report(turns: list[float], bare: list[float], trips: float, delivered: float) -> list[Row]:
    p50, p99 = median(turns), percentile(turns, 99)
    b50, b99 = median(bare), percentile(bare, 99)
    own = p50 - b50
    note = (
        f"{len(turns)} turns and {len(bare)} bare store pairs, in alternating batches. The core's own share "
        f"(turn p50 − bare store p50) is {ms(own, 3)}; the rest is the two Redis round trips and their "
        "(de)serialization. Judged on the whole turn, store included."
    )
    what = "one turn, zero-latency fake LLM, real Redis"
    return [
        Row(
            "P2",
            f"{what}: p50",
            f"≤ {ms(GOAL_P50, 0)}",
            ms(p50, 3),
            f"{ms(b50, 3)} (bare store calls)",
            p50 / b50,
            p50 <= GOAL_P50,
            note,
        ),
        Row(
            "P2",
            f"{what}: p99",
            f"≤ {ms(GOAL_P99, 0)}",
            ms(p99, 3),
            f"{ms(b99, 3)} (bare store calls)",
            p99 / b99,
            p99 <= GOAL_P99,
        ),
        Row(
            "P2",
            "Redis round trips per turn (counted on the connection)",
            f"≤ {GOAL_TRIPS}",
            f"{trips:.2f}",
            ok=trips <= GOAL_TRIPS,
        ),
        Row(
            "P2",
            "Redis round trips per turn delivered on a platform (in flight, one message shown, delivered)",
            f"≤ {GOAL_DELIVERED_TRIPS}",
            f"{delivered:.2f}",
            ok=delivered <= GOAL_DELIVERED_TRIPS,
        ),
    ]
