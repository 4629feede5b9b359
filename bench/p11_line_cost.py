"""P11: what the cross-process ordering costs a turn — shared lines in Redis vs the process's own lines.

Both sides: `ChatService` on a `RedisStore` (the real Redis, a random prefix each), a FakeLLM that
answers 20 words without ever waiting, production logging (JSON lines at INFO, into a file), 50 users
whose windows are already full, MAX_PENDING_PER_USER at its default (5); no rate limit, since every user
speaks many times a second here. Subject: the store as it is by default, whose `lines` are a
RedisLines: a turn takes a seat in its conversation's line in Redis with its read (the same script;
admitted against the person's pending cap there) and frees it with its write. Baseline: the same store
with in-process lines only (`shared_lines=False`), so turns are ordered by this process's own lines,
as with one process. Batches of turns alternate between the two (ABBA); the overhead is the median of
the per-pair differences of the batches' p50. Redis round trips are counted on each store's
connections (as in P2), for plain turns and for turns delivered the way Discord and Telegram deliver
them (recorded in flight, one platform message shown, stored once delivered).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bench.harness import Context, Row, alternate, log, median, ms, percentile
from bench.p2_core_overhead import REPLY, TEXT, USERS, delivered_trips
from bench.parts import RoundTrips, bench_personas, counting_redis, delete_prefix, new_prefix
from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.store.redis_store import RedisStore

GOAL_EXTRA_TRIPS, GOAL_ALL_TRIPS, GOAL_OVERHEAD = 1, 3, 0.0005
LIMITS = ChatLimits(max_pending_per_user=5)


@dataclass
class Side:
    """One way of ordering turns: its service, its round-trip counter, and what was measured."""

    name: str
    chat: ChatService
    trips: RoundTrips
    turns: int = 0
    sent: int = 0

    async def batch(self, users: itertools.cycle[str], size: int) -> list[float]:
        """`size` whole turns, one after the other; the seconds each took."""
        times = []
        start = self.trips.count
        for _ in range(size):
            began = time.perf_counter()
            await self.chat.reply(next(users), TEXT)
            times.append(time.perf_counter() - began)
        self.turns += size
        self.sent += self.trips.count - start
        return times

    @property
    def trips_per_turn(self) -> float:
        return self.sent / self.turns


@asynccontextmanager
async def side(url: str, name: str, *, shared: bool) -> AsyncIterator[Side]:
    """A ChatService on its own RedisStore (counting round trips); its keys are deleted afterwards."""
    client, trips = counting_redis(url)
    prefix = new_prefix()
    store = RedisStore(client, prefix, shared_lines=shared)
    chat = ChatService(store, FakeLLM(default_reply=REPLY), bench_personas(), LIMITS)
    try:
        yield Side(name, chat, trips)
    finally:
        await chat.aclose()
        await store.aclose()
        await delete_prefix(url, prefix)


async def run(ctx: Context) -> list[Row]:
    batches, per_batch = ctx.pick((8, 50), (40, 100))
    users = itertools.cycle([f"telegram:{710000 + i}" for i in range(USERS)])
    async with (
        side(ctx.redis_url, "shared lines", shared=True) as shared,
        side(ctx.redis_url, "in-process lines", shared=False) as local,
    ):
        log("warm-up: every user's window filled, on both sides")
        for each in (local, shared):
            await each.batch(users, USERS * LIMITS.max_context_messages // 2)
            each.turns = each.sent = 0
        log(f"{batches} batches of {per_batch} turns on each side, alternating")
        local_times, shared_times = await alternate(
            batches, lambda: local.batch(users, per_batch), lambda: shared.batch(users, per_batch)
        )
        delivered = [await delivered_trips(each.chat, users, each.trips, per_batch) for each in (local, shared)]
    return report(local, shared, local_times, shared_times, delivered)


def report(
    local: Side, shared: Side, local_times: list[list[float]], shared_times: list[list[float]], delivered: list[float]
) -> list[Row]:
    overhead = median([median(s) - median(b) for b, s in zip(local_times, shared_times, strict=True)])
    every_local = [t for batch in local_times for t in batch]
    every_shared = [t for batch in shared_times for t in batch]
    p50, b50 = median(every_shared), median(every_local)
    extra = shared.trips_per_turn - local.trips_per_turn
    extra_delivered = delivered[1] - delivered[0]
    return [
        Row(
            "P11",
            "Redis round trips per turn, shared lines vs in-process lines (counted on the connection)",
            f"≤ {GOAL_EXTRA_TRIPS} extra",
            f"{shared.trips_per_turn:.2f} ({extra:+.2f})",
            f"{local.trips_per_turn:.2f} (in-process lines)",
            ok=extra <= GOAL_EXTRA_TRIPS,
        ),
        Row(
            "P11",
            "Redis round trips per turn delivered on a platform (in flight, one message shown, delivered), "
            "shared vs in-process lines",
            f"≤ {GOAL_EXTRA_TRIPS} extra; ≤ {GOAL_ALL_TRIPS} in all",
            f"{delivered[1]:.2f} ({extra_delivered:+.2f})",
            f"{delivered[0]:.2f} (in-process lines)",
            ok=extra_delivered <= GOAL_EXTRA_TRIPS and delivered[1] <= GOAL_ALL_TRIPS,
        ),
        Row(
            "P11",
            "p50 per-turn overhead of the shared lines (zero-latency fake LLM, real Redis)",
            f"≤ {ms(GOAL_OVERHEAD, 1)}",
            f"{ms(overhead, 3)} (turn p50 {ms(p50, 3)})",
            f"turn p50 {ms(b50, 3)} (in-process lines)",
            p50 / b50,
            overhead <= GOAL_OVERHEAD,
            f"{len(local_times)} alternating pairs of {len(local_times[0])}-turn batches; overhead = median of the "
            f"per-pair differences of the batches' p50. p99: {ms(percentile(every_shared, 99), 3)} shared, "
            f"{ms(percentile(every_local, 99), 3)} in-process. MAX_PENDING_PER_USER=5 on both sides (checked in "
            "Redis with shared lines, in the process without); no rate limit.",
        ),
    ]
