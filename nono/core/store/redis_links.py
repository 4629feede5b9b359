"""The Redis store's person links and one-time tokens: what linking and /link codes need beyond conversations."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from nono.core.models import Message, Session
from nono.core.store import redis_codec as codec
from nono.core.store import redis_scripts as scripts
from nono.core.store.base import Fact, PersonRecord, Rewrite
from nono.core.store.common import OutageGuard
from nono.core.store.redis_keys import RedisKeys


class RedisLinks:
    """Person records (`person:{id}`) and tokens (`token:<key>`, with a TTL), on the store's client and guard."""

    def __init__(
        self, client: aioredis.Redis, keys: RedisKeys, guard: OutageGuard, *, ttl_ms: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._redis = client
        self._keys = keys
        self._guard = guard
        self._ttl_ms = ttl_ms
        self._clock = clock
        self._take = client.register_script(scripts.TAKE)

    async def person(self, person: str) -> PersonRecord | None:
        """The person's link record, or None when they are linked with nobody."""
        with self._guard("person"):
            return codec.person_of(person, await self._redis.hgetall(self._keys.person(person)))

    async def rewrite(self, change: Rewrite, now: float) -> None:
        """Each conversation in one transaction (its keys share a slot), then the people's records."""
        with self._guard("rewrite"):
            for conversation_id, state in change.conversations.items():
                await self._replace(conversation_id, state, change.facts.get(conversation_id), now)
            for conversation_id, facts in change.facts.items():
                if conversation_id not in change.conversations:
                    async with self._redis.pipeline(transaction=True) as pipe:
                        self._queue_facts(pipe, conversation_id, facts)
                        await pipe.execute()
            for person, record in change.people.items():
                key = self._keys.person(person)
                if record is None:
                    await self._redis.delete(key)
                else:
                    await self._redis.hset(key, mapping=codec.person_fields(record))  # type: ignore[arg-type]

    async def _replace(
        self, conversation_id: str, state: tuple[Session, list[Message]] | None, facts: list[Fact] | None, now: float
    ) -> None:
        """Write the conversation's new state (its summary dropped: the seqs changed), or delete all of it."""
        keys = self._keys.everything(conversation_id)

        async def apply(pipe: Pipeline) -> None:
            stored = None if state is None else await pipe.get(keys[3])  # the revision the dropped record follows
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.delete(*(keys if state is None else keys[:3]))
            if state is not None:
                session, messages = state
                pipe.hset(keys[0], mapping=codec.session_fields(session, len(messages)))  # type: ignore[arg-type]
                if session.metadata:
                    fields = {codec.field(k): codec.dump(v) for k, v in session.metadata.items()}
                    pipe.hset(keys[2], mapping=fields)  # type: ignore[arg-type]
                if messages:
                    pipe.rpush(keys[1], *codec.payload(messages))
                pipe.set(keys[3], codec.dropped_summary(stored, now))
            if facts is not None:
                self._queue_facts(pipe, conversation_id, facts)
            elif self._ttl_ms is not None:
                for key in keys:
                    pipe.pexpire(key, self._ttl_ms)

        await self._redis.transaction(apply, keys[3])
        # The index spans every conversation (no hash tag): outside the conversation's transaction.
        if state is None:
            await self._redis.zrem(self._keys.index, conversation_id)
        else:
            await self._redis.zadd(self._keys.index, {conversation_id: state[0].last_activity})

    def _queue_facts(self, pipe: Pipeline, conversation_id: str, facts: list[Fact]) -> None:
        """Replace the conversation's facts with `facts`, refreshing the TTL of all its keys."""
        key = self._keys.facts(conversation_id)
        pipe.delete(key)
        if facts:
            pipe.rpush(key, *[codec.fact_value(fact) for fact in facts])
        if self._ttl_ms is not None:
            for each in self._keys.everything(conversation_id):
                pipe.pexpire(each, self._ttl_ms)

    async def put_token(self, key: str, value: str, expires_at: float) -> None:
        """Keep `value` under `key` until `expires_at`, judged by the caller's clock; a TTL cleans it up."""
        ttl = max(1, round((expires_at - self._clock()) * 1000))
        with self._guard("put_token"):
            await self._redis.set(self._keys.token(key), codec.token_value(value, expires_at), px=ttl)

    async def take_token(self, key: str, now: float) -> str | None:
        """The unexpired value under `key`, deleted in the same script."""
        with self._guard("take_token"):
            return codec.unexpired(await self._take(keys=[self._keys.token(key)]), now)

    async def get_token(self, key: str, now: float) -> str | None:
        """The unexpired value under `key`, left in place."""
        with self._guard("get_token"):
            return codec.unexpired(await self._redis.get(self._keys.token(key)), now)
