"""Building blocks the benchmarks share: personas, stores (with clean-up), seeded histories, a counting Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, ConnectionPool

from nono.core.llm.base import ChatMessage, GenerationOptions
from nono.core.llm.fake import FakeLLM
from nono.core.models import Message
from nono.core.personas import PersonaRegistry, load_personas
from nono.core.store.redis_store import RedisStore
from nono.core.store.sqlite_store import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
PERSONAS_DIR = ROOT / "personas"
DEFAULT_PERSONA = "assistant"


def bench_personas(**changes: Any) -> PersonaRegistry:
    """The shipped personas; the default one with `changes` (e.g. max_tokens) applied."""
    shipped = load_personas(PERSONAS_DIR)
    default = shipped[DEFAULT_PERSONA].model_copy(update=changes)
    return PersonaRegistry({**shipped, DEFAULT_PERSONA: default}, DEFAULT_PERSONA)


def new_prefix() -> str:
    """A random key prefix on the shared Redis (valid as KEY_PREFIX)."""
    return f"nono-bench:{uuid.uuid4().hex[:16]}:"


async def delete_prefix(url: str, prefix: str) -> int:
    """Delete our own keys (never FLUSHDB: the server is shared); return how many."""
    client = aioredis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += await client.unlink(*batch)
                batch = []
        if batch:
            deleted += await client.unlink(*batch)
    finally:
        await client.aclose()
    return deleted


@asynccontextmanager
async def redis_store(url: str, client: aioredis.Redis | None = None) -> AsyncIterator[RedisStore]:
    """A RedisStore under a random prefix; its keys are deleted afterwards."""
    prefix = new_prefix()
    store = RedisStore(client, prefix) if client is not None else RedisStore.from_url(url, prefix)
    try:
        yield store
    finally:
        await store.aclose()
        await delete_prefix(url, prefix)


@asynccontextmanager
async def sqlite_store(workdir: Path, name: str = "nono.sqlite3") -> AsyncIterator[SQLiteStore]:
    """A SQLiteStore in a fresh file (same settings as production: WAL, synchronous=FULL)."""
    path = workdir / name
    store = SQLiteStore(path)
    try:
        yield store
    finally:
        await store.aclose()


@dataclass
class RoundTrips:
    """Requests sent to Redis: each send is followed by waiting for the replies, so one round trip each."""

    count: int = 0


def counting_redis(url: str) -> tuple[aioredis.Redis, RoundTrips]:
    """A redis-py client whose connections count their round trips (measured from outside the store)."""
    trips = RoundTrips()

    class CountingConnection(Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            trips.count += 1
            await super().send_packed_command(command, check_health)

    pool = ConnectionPool.from_url(url, connection_class=CountingConnection)
    return aioredis.Redis(connection_pool=pool), trips


def user_text(words: int = 12) -> str:
    """What every seeded user message says (all the same length, so windows are comparable)."""
    return " ".join(f"question{w}" for w in range(words))


def assistant_text(words: int = 12) -> str:
    """What every seeded assistant message says."""
    return " ".join(f"answer{w}" for w in range(words))


def conversation(count: int, now: float, words: int = 12) -> list[Message]:
    """`count` alternating user/assistant messages, oldest first, ending with an answer when `count` is even.

    Every user message has the same text and so does every answer: the newest window is the
    same however long the history is.
    """
    texts = {"user": user_text(words), "assistant": assistant_text(words)}
    roles = ["user", "assistant"] if count % 2 == 0 else ["assistant", "user"]
    return [Message(roles[i % 2], texts[roles[i % 2]], now - (count - i)) for i in range(count)]


async def seed_history(store: Any, user_id: str, count: int, now: float, words: int = 12) -> None:
    """Give `user_id` a session and `count` stored messages, written in batches through the store itself."""
    messages = conversation(count, now, words)
    for start in range(0, count, 2000):
        await store.append_turn(user_id, DEFAULT_PERSONA, messages[start : start + 2000], now)


class PacedLLM(FakeLLM):
    """A fake model that streams at a fixed token rate on a schedule, as a model server does.

    Token i is due at start + i / rate whether or not the reader kept up (a slow reader gets
    several at once), so a reply takes `tokens / rate` seconds unless the bot itself is late.
    The reply starts with `re:` and the user's message, so each user's reply is recognisable.
    """

    def __init__(self, tokens: int = 100, rate: float = 20.0) -> None:
        super().__init__(name="paced")
        self.tokens = tokens
        self.rate = rate

    async def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        pieces = [f"re:{messages[-1].content}", *(f" w{i}" for i in range(1, self.tokens))]
        for i, piece in enumerate(pieces, 1):
            delay = start + i / self.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield piece


async def time_to_first_chunk(chat: Any, user: str, text: str, began: float) -> float:
    """Run one turn to the end; return seconds from `began` (perf_counter) to its first chunk."""
    first = None
    reply = chat.stream(user, text)
    async with reply:
        async for _ in reply:
            if first is None:
                first = time.perf_counter() - began
    assert first is not None, "the model produced no text"
    return first
