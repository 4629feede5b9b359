"""Redis backend: one hash and one list per conversation, plus a sorted set of conversations by activity.

Keys (under the prefix): `conv:{id}` (hash: conversation_id, persona, created_at, last_activity,
message_count), `conv:{id}:history` (JSON messages, oldest first: a position is a `seq`), `conv:{id}:metadata`
(one JSON value per field: merging is a plain HSET), `conv:{id}:summary` and `conv:{id}:facts` (`redis_memory`),
`conv:{id}:inflight` (its replies in flight), `conversations:active` (ids by last activity), `person:{id}` (a
link), `token:{key}` (with a TTL), `event:{id}` (`redis_events`), `inflight:turns` and `inflight:leases`
(`redis_inflight`), `schema_version`. Braces are Redis Cluster hash tags: one conversation's keys, and a person's
record next to their private conversation, share a slot, so every script and transaction touches one slot and
the store runs unchanged on a cluster (`from_url(cluster=True)`); what spans conversations is written beside.
A turn costs two round trips, `load_context` (which also records a reply in flight) and `append_turn` (which
settles it), each one Lua script and the index commands pipelined with it (`redis_batch`; a linked person's
costs one more); a page is one more.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from nono.core.errors import StoreUnavailable
from nono.core.models import ActivePage, Message, Session
from nono.core.store import redis_clients, redis_lines
from nono.core.store import redis_codec as codec
from nono.core.store import redis_scripts as scripts
from nono.core.store.base import Context, Erased, Fact, PersonRecord, Rewrite, Summary
from nono.core.store.common import OutageGuard
from nono.core.store.duties import Duties
from nono.core.store.inflight import InFlight, InFlightStore, Settles
from nono.core.store.leads import Leads
from nono.core.store.lines import Fence, SeatRequest, Waiting
from nono.core.store.redis_active import RedisActive
from nono.core.store.redis_batch import evalsha
from nono.core.store.redis_durability import durability_warnings
from nono.core.store.redis_duties import RedisDuties
from nono.core.store.redis_events import RedisEvents
from nono.core.store.redis_inflight import RedisInFlight
from nono.core.store.redis_keys import RedisKeys
from nono.core.store.redis_leads import RedisLeads
from nono.core.store.redis_lines import RedisLines
from nono.core.store.redis_links import RedisLinks
from nono.core.store.redis_memory import RedisMemory
from nono.core.store.redis_migration import MIGRATION_WAIT, READY_WAIT, migrate
from nono.core.store.redis_turns import RedisTurns

log = logging.getLogger(__name__)


class RedisStore:
    """Conversations, histories, links and tokens in Redis (redis-py asyncio). The store owns and closes `client`."""

    def __init__(
        self, client: Any, prefix: str = "nono:", history_ttl: float | None = None, *,
        clock: Callable[[], float] = time.time, shared_lines: bool = True,
    ) -> None:  # fmt: skip
        """`client`: a redis-py asyncio `Redis`, or a `RedisCluster` (then every shard is a part of the store).

        `shared_lines=False` leaves turn order and limits to the one process using the store (`lines` is None)."""
        self._redis = client
        self._cluster = isinstance(client, RedisCluster)
        self._keys = keys = RedisKeys(prefix)
        self.history_ttl = history_ttl
        self._clock = clock
        self._ttl_ms = codec.ttl_ms(history_ttl)
        self._index = keys.index
        # Connection loss, timeouts, OOM, READONLY, MISCONF...: the user can only retry later.
        self._guard = OutageGuard(log, "redis", (RedisError, OSError), where=redis_clients.address(client))
        self._links = RedisLinks(client, keys, self._guard, ttl_ms=self._ttl_ms, clock=clock)
        self._active = RedisActive(
            client, keys, self._guard, self._ready, history_ttl=history_ttl, clock=clock, cluster=self._cluster
        )
        self._memory = RedisMemory(
            client, keys, self._guard, self._ready, mark=self._active.queue_mark, history_ttl=history_ttl, clock=clock
        )
        self._history = client.register_script(scripts.HISTORY)
        self._clear = client.register_script(scripts.CLEAR)
        self._migrated = False
        self._flights = RedisInFlight(client, keys, self._guard, clock=clock)
        self.inflight: InFlightStore = self._flights
        self._events = RedisEvents(client, keys, self._guard)
        self.duties: Duties = RedisDuties(client, keys.prefix, self._guard)
        self.leads: Leads = RedisLeads(client, keys, self._guard)
        self.lines: RedisLines | None = None
        if shared_lines:
            self.lines = RedisLines(client, keys, self._guard, redis_lines.same_slot_of(client))
        self._turns = RedisTurns(
            client, keys, self._guard, self._ready, self._flights, self._active, self.lines, ttl_ms=self._ttl_ms
        )

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "nono:", history_ttl: float | None = None, *,
        clock: Callable[[], float] = time.time, cluster: bool = False,
    ) -> RedisStore:  # fmt: skip
        """A store with its own connections to `url` (redis://, rediss://, unix://); with `cluster`, to the
        Redis Cluster whose node `url` names."""
        client = redis_clients.cluster(url) if cluster else redis_clients.single(url)
        return cls(client, prefix, history_ttl, clock=clock)

    async def migrate(self, wait: float = MIGRATION_WAIT) -> int:
        """Bring the keys under the prefix to the current schema (idempotent), or wait up to `wait` seconds
        for the process doing it (one process migrates: `redis_migration`); the version found."""
        with self._guard("migrate"):
            found = await migrate(self._redis, self._keys, wait=wait)
        self._migrated = True
        return found

    async def _ready(self) -> None:
        # Start-up migrates; if Redis was down then, the first call that reaches it does, so data
        # written by an older Nono is never hidden behind the new key names. A turn waits only
        # briefly for another process's migration: it fails as "unavailable" and the next one looks again.
        if not self._migrated:
            await self.migrate(wait=READY_WAIT)

    async def load_context(
        self, conversation_id: str, limit: int, begin: InFlight | None = None, lease_until: float = 0.0,
        seat: SeatRequest | None = None,
    ) -> Context | Waiting:  # fmt: skip
        """The session, the window, summary and facts; records `begin` in flight: one round trip (two if linked).

        With `seat`, the same script takes the seat and reads only at the head (see `redis_lines`)."""
        return await self._turns.load_context(conversation_id, limit, begin, lease_until, seat)

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
        return await self._turns.write("set_persona", conversation_id, persona, now, persona_wins=True)

    async def touch(
        self, conversation_id: str, persona: str, now: float, metadata: dict[str, Any] | None = None
    ) -> Session:
        """Create the session with `persona` if it does not exist, else mark it active (persona unchanged)."""
        return await self._turns.write("touch", conversation_id, persona, now, metadata=metadata)

    async def append_turn(
        self, conversation_id: str, persona: str, messages: list[Message], now: float,
        settles: Settles | None = None, fence: Fence | None = None,
    ) -> Session:  # fmt: skip
        """Atomically append `messages` and update the session (created with `persona` if missing), settling
        the reply in flight `settles` and freeing the head `fence` holds."""
        payload = codec.payload(messages)
        return await self._turns.write(
            "append_turn", conversation_id, persona, now, payload=payload, settles=settles, fence=fence
        )

    async def clear(self, conversation_id: str) -> bool:
        """Forget the conversation's session, history, summary and facts; True if there was anything to forget."""
        await self._ready()
        keys = self._keys.everything(conversation_id)

        def queue(pipe: Any) -> None:  # the conversation all at once (a script), its index entry beside it
            evalsha(pipe, self._clear, keys, ())
            pipe.zrem(self._index, conversation_id)

        with self._guard("clear"):
            deleted, unindexed = (await self._flights.send(queue, self._clear))[:2]
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
            if self._cluster:  # every primary holds part of the data
                await self._redis.ping(target_nodes=RedisCluster.PRIMARIES)
            else:
                await self._redis.ping()

    async def durability_warnings(self) -> list[str]:
        """Operator warnings when Redis could evict or lose history ([] if CONFIG is not allowed)."""
        with self._guard("durability_warnings"):
            return await durability_warnings(self._redis)

    async def aclose(self) -> None:
        """Close the client and its connection pool (after the sweep-index removals still due)."""
        try:
            await self._flights.flush()
        except StoreUnavailable:  # logged by the guard; a later sweep drops the entries (PRUNE_AFTER)
            log.warning("inflight_index_unflushed")
        await self._redis.aclose()
