"""Redis backend: one hash and one list per conversation, plus a sorted set of conversations by activity.

Keys (under the prefix): `conv:{id}` (hash: conversation_id, persona, created_at, last_activity,
message_count), `conv:{id}:history` (JSON messages, oldest first: a position is a `seq`), `conv:{id}:metadata`
(one JSON value per field: merging is a plain HSET), `conv:{id}:summary` and `conv:{id}:facts` (`redis_memory`),
`conversations:active` (ids by last activity), `person:{id}` (a link), `token:{key}` (with a TTL), `event:{id}`
(`redis_events`), `inflight` and `inflight:owners` (`redis_inflight`), `schema_version`. Braces are Redis Cluster
hash tags: one conversation's keys, and a person's record next to their private conversation, share a shard.
A turn costs two round trips, `load_context` (which also records a reply in flight) and `append_turn` (which
settles it), each one Lua script (`redis_scripts`; a linked person's costs one more); a page is one more.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from nono.core.models import ActivePage, Message, Session
from nono.core.store import redis_codec as codec
from nono.core.store import redis_scripts as scripts
from nono.core.store.base import Context, Erased, Fact, PersonRecord, Rewrite, Summary
from nono.core.store.common import OutageGuard
from nono.core.store.inflight import InFlight, InFlightStore, ReplyTakenOver, Settles
from nono.core.store.redis_active import RedisActive
from nono.core.store.redis_durability import durability_warnings
from nono.core.store.redis_events import RedisEvents
from nono.core.store.redis_inflight import RedisInFlight, begin_args
from nono.core.store.redis_keys import RedisKeys
from nono.core.store.redis_links import RedisLinks
from nono.core.store.redis_memory import RedisMemory
from nono.core.store.redis_migration import migrate

log = logging.getLogger(__name__)

#: Connections per process; more concurrent store calls wait (up to 5 s) for one to be free.
MAX_CONNECTIONS = 64


class RedisStore:
    """Conversations, histories, links and tokens in Redis (redis-py asyncio). The store owns and closes `client`."""

    def __init__(
        self, client: aioredis.Redis, prefix: str = "nono:", history_ttl: float | None = None, *,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._redis = client
        self._keys = keys = RedisKeys(prefix)
        self.history_ttl = history_ttl
        self._clock = clock
        self._ttl_ms = codec.ttl_ms(history_ttl)
        self._index = keys.index
        # Connection loss, timeouts, OOM, READONLY, MISCONF...: the user can only retry later.
        self._guard = OutageGuard(log, "redis", (RedisError, OSError))
        self._links = RedisLinks(client, keys, self._guard, ttl_ms=self._ttl_ms, clock=clock)
        self._memory = RedisMemory(client, keys, self._guard, self._ready, history_ttl=history_ttl, clock=clock)
        self._active = RedisActive(client, keys, self._guard, self._ready, history_ttl=history_ttl, clock=clock)
        self._load_context = client.register_script(scripts.LOAD_CONTEXT)
        self._history = client.register_script(scripts.HISTORY)
        self._activity = client.register_script(scripts.ACTIVITY)
        self._migrated = False
        self._inflight_keys = (keys.inflight, keys.owners)
        self.inflight: InFlightStore = RedisInFlight(client, keys, self._guard)
        self._events = RedisEvents(client, keys, self._guard)

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "nono:", history_ttl: float | None = None, *,
        clock: Callable[[], float] = time.time,
    ) -> RedisStore:  # fmt: skip
        """A store with its own connection pool for `url` (redis://, rediss://, unix://)."""
        # A blocking pool: a burst of turns (1,000 users at once) waits for a free connection instead
        # of failing with MaxConnectionsError once redis-py's default 100 are in use.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=5,
            # Retry only failed connections (a restarted server, a stale pooled socket), briefly:
            # a timed-out EXEC may have committed, and re-sending it could store a turn twice.
            retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), 2, (RedisConnectionError,)),
            socket_timeout=5,
            socket_connect_timeout=5,
            # No health_check_interval: its PING would add a round trip to the first turn after idle;
            # a stale pooled socket fails with ConnectionError and the retry above reconnects.
        )
        return cls(aioredis.Redis.from_pool(pool), prefix, history_ttl, clock=clock)

    async def migrate(self) -> int:
        """Bring the keys under the prefix to the current schema (idempotent); the version found."""
        with self._guard("migrate"):
            found = await migrate(self._redis, self._keys)
        self._migrated = True
        return found

    async def _ready(self) -> None:
        # Start-up migrates; if Redis was down then, the first call that reaches it does, so data
        # written by an older Nono is never hidden behind the new key names.
        if not self._migrated:
            await self.migrate()

    async def load_context(
        self, conversation_id: str, limit: int, begin: InFlight | None = None, lease_until: float = 0.0
    ) -> Context:
        """The session, the window, summary and facts; records `begin` in flight: one round trip (two if linked)."""
        await self._ready()
        for _ in range(2):  # a link points at a conversation that is nobody's link: one hop at most
            keys = [*self._keys.everything(conversation_id), self._keys.person(conversation_id), *self._inflight_keys]
            args: list[str | int] = [max(0, limit), conversation_id, *begin_args(begin, lease_until)]
            with self._guard("load_context"):
                reply = await self._load_context(keys=keys, args=args)
            if len(reply) == 1:
                conversation_id = codec.text(reply[0])
                begin = begin and replace(begin, conversation_id=conversation_id)
                continue
            return codec.context_of(reply, conversation_id)
        raise AssertionError(f"person link loop at {conversation_id!r}")

    async def get_session(self, conversation_id: str) -> Session | None:
        """The conversation's session, or None when there is none (never created, reset, or expired)."""
        await self._ready()
        keys = [self._keys.session(conversation_id), self._keys.metadata(conversation_id)]
        with self._guard("get_session"):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(keys[0])
                pipe.hgetall(keys[1])
                raw, meta = await pipe.execute()
        return codec.session_of(raw, meta)

    async def history(self, conversation_id: str, limit: int, before: int | None = None) -> list[Message]:
        """Up to `limit` messages with `seq < before` (all when None), newest last, each with `seq` set."""
        await self._ready()
        if limit <= 0 or (before is not None and before <= 0):
            return []
        args = [limit, "" if before is None else before]
        with self._guard("history"):
            first, items = await self._history(keys=[self._keys.history(conversation_id)], args=args)
        return codec.messages_of(items, first=int(first))

    async def active_page(self, since: float, offset: int = 0, limit: int = 50) -> ActivePage:
        """Sessions active at or after `since`, most recent first, and how many there are in all."""
        return await self._active.page(since, offset, limit)

    async def count_active(self, since: float) -> int:
        """How many sessions were active at or after `since`."""
        return await self._active.count(since)

    async def set_persona(self, conversation_id: str, persona: str, now: float) -> Session:
        """Create the session if needed and set its persona; counts as activity."""
        return await self._write("set_persona", conversation_id, persona, now, persona_wins=True)

    async def touch(
        self, conversation_id: str, persona: str, now: float, metadata: dict[str, Any] | None = None
    ) -> Session:
        """Create the session with `persona` if it does not exist, else mark it active (persona unchanged)."""
        return await self._write("touch", conversation_id, persona, now, metadata=metadata)

    async def append_turn(
        self, conversation_id: str, persona: str, messages: list[Message], now: float,
        settles: Settles | None = None,
    ) -> Session:  # fmt: skip
        """Atomically append `messages` and update the session (created with `persona` if missing), settling
        the reply in flight `settles`."""
        payload = codec.payload(messages)
        return await self._write("append_turn", conversation_id, persona, now, payload=payload, settles=settles)

    async def _write(
        self,
        op: str,
        conversation_id: str,
        persona: str,
        now: float,
        *,
        persona_wins: bool = False,
        metadata: dict[str, Any] | None = None,
        payload: Sequence[bytes] = (),
        settles: Settles | None = None,
    ) -> Session:
        """Append `payload`, upsert the session, index it, refresh TTLs: one script. Returns the session as written."""
        await self._ready()
        keys = [*self._keys.everything(conversation_id), self._index, self._inflight_keys[0]]
        expiry = codec.expiry(self._ttl_ms, self.history_ttl, now)
        fields = [item for k, v in (metadata or {}).items() for item in (codec.field(k), codec.dump(v))]
        wins = "1" if persona_wins else "0"
        settle = settles or ("", "")
        args = [conversation_id, persona, repr(float(now)), wins, *expiry, *settle, len(fields) // 2, *fields, *payload]
        with self._guard(op):
            written = await self._activity(keys=keys, args=args)
        if written is None:  # only a settling write stores nothing
            raise ReplyTakenOver(settle[0])
        raw, meta = written
        session = codec.session_of(codec.pairs(raw), codec.pairs(meta))
        assert session is not None, "the script just wrote this session"
        return session

    async def clear(self, conversation_id: str) -> bool:
        """Forget the conversation's session, history, summary and facts; True if there was anything to forget."""
        await self._ready()
        with self._guard("clear"):
            async with self._redis.pipeline(transaction=True) as pipe:  # one round trip, all or nothing
                pipe.delete(*self._keys.everything(conversation_id))
                pipe.zrem(self._index, conversation_id)
                deleted, unindexed = await pipe.execute()
        return bool(deleted or unindexed)

    async def get_summary(self, conversation_id: str) -> Summary | None:
        """The conversation's summary record (a dropped one included), or None when none was ever written."""
        return await self._memory.get_summary(conversation_id)

    async def put_summary(self, conversation_id: str, summary: Summary, *, revision: int, epoch: float) -> bool:
        """Store `summary` unless its revision or the session changed since the writer read them."""
        return await self._memory.put_summary(conversation_id, summary, revision=revision, epoch=epoch)

    async def facts(self, conversation_id: str) -> list[Fact]:
        """The conversation's facts, oldest first."""
        return await self._memory.facts(conversation_id)

    async def add_fact(self, conversation_id: str, fact: Fact, persona: str, now: float, max_facts: int) -> bool:
        """Append `fact` unless the conversation already holds `max_facts`; counts as activity."""
        return await self._memory.add_fact(conversation_id, fact, persona, now, max_facts)

    async def delete_facts(self, conversation_id: str, ids: Collection[str] | None = None) -> int:
        """Remove the facts with these ids (every fact when None); how many were removed."""
        return await self._memory.delete_facts(conversation_id, ids)

    async def conversations_of(self, person: str) -> list[str]:
        """Every conversation holding something of `person`, sorted (a SCAN: an operator's rare request)."""
        return await self._memory.conversations_of(person)

    async def erase_speaker(self, conversation_id: str, person: str) -> Erased:
        """Remove every turn `person` spoke and every fact they wrote, dropping the summary."""
        return await self._memory.erase_speaker(conversation_id, person)

    async def person(self, person: str) -> PersonRecord | None:
        """The person's link record, or None when they are linked with nobody."""
        await self._ready()
        return await self._links.person(person)

    async def rewrite(self, change: Rewrite, now: float) -> None:
        """Apply a link or unlink: each conversation in one transaction, then the people's records."""
        await self._ready()
        await self._links.rewrite(change, now)

    async def put_token(self, key: str, value: str, expires_at: float) -> None:
        """Keep `value` under `key` until `expires_at` (link codes and requests)."""
        await self._links.put_token(key, value, expires_at)

    async def take_token(self, key: str, now: float) -> str | None:
        """The unexpired value under `key`, deleted in the same step (single use)."""
        return await self._links.take_token(key, now)

    async def get_token(self, key: str, now: float) -> str | None:
        """The unexpired value under `key`, left in place."""
        return await self._links.get_token(key, now)

    async def first_sighting(self, event: str, ttl: float) -> bool:
        """True if `event` was not seen within `ttl` seconds (now recorded, in any process), False for a replay."""
        return await self._events.first_sighting(event, ttl)

    async def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers."""
        with self._guard("ping"):
            await self._redis.ping()

    async def durability_warnings(self) -> list[str]:
        """Operator warnings when Redis could evict or lose history ([] if CONFIG is not allowed)."""
        with self._guard("durability_warnings"):
            return await durability_warnings(self._redis)

    async def aclose(self) -> None:
        """Close the client and its connection pool."""
        await self._redis.aclose()
