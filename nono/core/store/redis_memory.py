"""The Redis store's long-term memory: each conversation's summary and facts, and erasing a person.

`conv:{id}:summary` holds one summary record (JSON) and `conv:{id}:facts` the facts (JSON, oldest
first), next to the conversation's other keys (same hash tag, same TTL). Compare-and-set and the
fact cap are Lua scripts; rewriting a history (erasing a person, deleting facts by id) reads under
WATCH and writes in one MULTI/EXEC, retried when another write touched the conversation meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar, cast

from redis.asyncio.client import Pipeline

from nono.core.store import redis_codec as codec
from nono.core.store import redis_scripts as scripts
from nono.core.store.base import Erased, Fact, Summary
from nono.core.store.common import OutageGuard
from nono.core.store.redis_keys import RedisKeys

#: Messages read per LRANGE when looking for a person's words: one conversation is never read whole at once.
CHUNK = 500

T = TypeVar("T")


class RedisMemory:
    """Summaries and facts on the store's client and guard; every verb follows the store's `ready` first."""

    def __init__(
        self, client: Any, keys: RedisKeys, guard: OutageGuard, ready: Callable[[], Awaitable[None]], *,
        mark: Callable[[Any, str, float], None], history_ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._redis = client
        self._mark = mark  # queues the active index's entry (`RedisActive.queue_mark`)
        self._keys = keys
        self._guard = guard
        self._ready = ready
        self._history_ttl = history_ttl
        self._ttl_ms = codec.ttl_ms(history_ttl)
        self._clock = clock
        self._add_fact = client.register_script(scripts.ADD_FACT)
        self._put_summary = client.register_script(scripts.PUT_SUMMARY)

    async def get_summary(self, conversation_id: str) -> Summary | None:
        """The conversation's summary record (a dropped one included), or None when none was ever written."""
        await self._ready()
        with self._guard("get_summary"):
            return codec.summary_of(await self._redis.get(self._keys.summary(conversation_id)))

    async def put_summary(self, conversation_id: str, summary: Summary, *, revision: int, epoch: float) -> bool:
        """Store `summary` as revision `revision + 1` if nothing changed since the writer read; one script."""
        await self._ready()
        record = codec.summary_value(summary, revision + 1)
        args: list[str | int] = [revision, repr(float(epoch)), record, "" if self._ttl_ms is None else self._ttl_ms]
        with self._guard("put_summary"):
            return bool(await self._put_summary(keys=list(self._keys.everything(conversation_id)), args=args))

    async def facts(self, conversation_id: str) -> list[Fact]:
        """The conversation's facts, oldest first."""
        await self._ready()
        with self._guard("facts"):
            return codec.facts_of(await self._redis.lrange(self._keys.facts(conversation_id), 0, -1))

    async def add_fact(self, conversation_id: str, fact: Fact, persona: str, now: float, max_facts: int) -> bool:
        """Append `fact` unless `max_facts` are held, creating or marking the session active; one script,
        then the active index (on another shard of a cluster) when the fact was added."""
        await self._ready()
        keys = list(self._keys.everything(conversation_id))
        stamp, ttl = repr(float(now)), codec.ttl_arg(self._ttl_ms)
        args: list[str | int] = [conversation_id, persona, stamp, "0", ttl, max_facts, codec.fact_value(fact)]
        with self._guard("add_fact"):
            if not await self._add_fact(keys=keys, args=args):
                return False
            async with self._redis.pipeline(transaction=False) as pipe:
                self._mark(pipe, conversation_id, now)
                await pipe.execute()
        return True

    async def delete_facts(self, conversation_id: str, ids: Collection[str] | None = None) -> int:
        """Remove the facts with these ids (all when None); how many went. The key keeps its TTL."""
        await self._ready()
        key = self._keys.facts(conversation_id)
        wanted = None if ids is None else set(ids)

        async def apply(pipe: Pipeline) -> int:
            items: list[Any] = await pipe.lrange(key, 0, -1)
            facts = codec.facts_of(items)
            gone = [raw for raw, fact in zip(items, facts, strict=True) if wanted is None or fact.id in wanted]
            pipe.multi()  # type: ignore[no-untyped-call]
            if wanted is None:
                pipe.delete(key)
            else:
                for raw in gone:
                    pipe.lrem(key, 1, raw)  # fact ids are unique, so each stored item is too
            return len(gone)

        return await self._atomically("delete_facts", apply, key)

    async def erase_speaker(self, conversation_id: str, person: str) -> Erased:
        """Remove `person`'s turns and facts, renumbering the rest and dropping the summary; one MULTI/EXEC."""
        await self._ready()
        keys = self._keys.everything(conversation_id)
        session, history, _, summary, facts = keys

        async def apply(pipe: Pipeline) -> Erased:
            items: list[Any] = await pipe.lrange(history, 0, -1)
            noted: list[Any] = await pipe.lrange(facts, 0, -1)
            kept = unspoken(items, person)
            kept_facts = [raw for raw, fact in zip(noted, codec.facts_of(noted), strict=True) if fact.author != person]
            erased = Erased(len(items) - len(kept), len(noted) - len(kept_facts))
            if not any(erased):
                return erased
            # HLEN, not EXISTS: redis-py's cluster transaction drops EXISTS between WATCH and MULTI.
            stored, live = await pipe.get(summary), await pipe.hlen(session)
            pipe.multi()  # type: ignore[no-untyped-call]
            if erased.messages:  # a message's seq is its list position: rewriting the list renumbers
                pipe.delete(history)
                if kept:
                    pipe.rpush(history, *kept)
                if live:  # never a session hash without its other fields
                    pipe.hset(session, "message_count", len(kept))
                pipe.set(summary, codec.dropped_summary(stored, self._clock()))
            if erased.facts:
                pipe.delete(facts)
                if kept_facts:
                    pipe.rpush(facts, *kept_facts)
            if self._ttl_ms is not None:
                for key in keys:
                    pipe.pexpire(key, self._ttl_ms)
            return erased

        return await self._atomically("erase_speaker", apply, session, history, summary, facts)

    async def conversations_of(self, person: str) -> list[str]:
        """Every conversation holding something of `person`, sorted; a SCAN over every conversation's keys."""
        await self._ready()
        platform, _, user = person.partition(":")
        found: set[str] = set()
        with self._guard("conversations_of"):
            async for raw in self._redis.scan_iter(match=self._keys.conversations, count=CHUNK):
                key = codec.text(raw)
                conversation_id = self._keys.conversation_of(key)
                if conversation_id in found or key not in self._keys.everything(conversation_id):
                    continue  # its line, seats and replies in flight hold nothing of anyone's: not data
                named = conversation_id == person or (
                    conversation_id.startswith(f"{platform}:") and conversation_id.endswith(f":person:{user}")
                )
                if named or await self._holds(key, conversation_id, person):
                    found.add(conversation_id)
        return sorted(found)

    async def _holds(self, key: str, conversation_id: str, person: str) -> bool:
        """Whether `key` (a history or a facts list) holds a user message `person` spoke or a fact they wrote."""
        if key == self._keys.facts(conversation_id):
            noted = await self._redis.lrange(key, 0, -1)
            return any(fact.author == person for fact in codec.facts_of(noted))
        if key != self._keys.history(conversation_id):
            return False
        start = 0
        while items := cast(list[Any], await self._redis.lrange(key, start, start + CHUNK - 1)):
            if any(m.role == "user" and m.speaker_id == person for m in codec.messages_of(items, start)):
                return True
            start += CHUNK
        return False

    async def _atomically(self, op: str, apply: Callable[[Pipeline], Awaitable[T]], *watched: str) -> T:
        """Run `apply` (reads, then MULTI and writes) under WATCH of `watched`, again until no write interfered."""
        with self._guard(op):
            result: T = await self._redis.transaction(apply, *watched, value_from_callable=True)
        return result


def unspoken(items: list[Any], person: str) -> list[Any]:
    """The stored messages left once every turn `person` spoke (theirs and the replies up to the next) is cut."""
    kept: list[Any] = []
    erasing = False
    for raw, message in zip(items, codec.messages_of(items, 0), strict=True):
        if message.role == "user":
            erasing = message.speaker_id == person
        if not erasing:
            kept.append(raw)
    return kept
