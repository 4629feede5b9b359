"""Bring the Redis keys under a prefix to the current schema, at start-up, idempotently, in one process at a time.

Schema 0 kept one user's data in `session:{id}`, `chat:{id}:history`, `chat:{id}:metadata` and
indexed them in `sessions:active`. Schema 1 names them after conversations (`conv:{id}`…,
`conversations:active`) and records each user message's speaker. Each conversation moves in one
MULTI/EXEC (its keys share a hash tag, hence a slot), so a crash leaves every conversation either
old or new, and running again finishes the job. Schema 2 adds keys (`conv:{id}:summary`,
`conv:{id}:facts`) that start out absent, so from 1 nothing moves. `schema_version` is written last.

Several processes starting at once: one takes the lock `migration:lock` (a lease on one key, renewed
while it works: `redis_lock`) and migrates; the others poll `schema_version` until it is current, and
take the lock over if its holder died (its lease runs out). A holder paused past its lease stops at
the next conversation; a conversation already moved by the other is skipped, never moved twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from nono.core.errors import StoreUnavailable
from nono.core.store.base import SCHEMA_VERSION, SchemaTooNew, legacy_speaker
from nono.core.store.duties import renewed
from nono.core.store.redis_codec import text
from nono.core.store.redis_keys import RedisKeys
from nono.core.store.redis_lock import RedisLocks

log = logging.getLogger(__name__)

#: The migrating process's lease on the lock, renewed every third of it: a crashed migrator's lock
#: is free this long after it died, and another process finishes the job.
MIGRATION_LEASE = 30.0
#: How long a process waits for another's migration (at start-up) before it reports it and gives up.
MIGRATION_WAIT = 120.0
#: How long a store call after start-up (Redis was down then) waits: a user's turn fails as unavailable
#: instead of hanging, and the next call looks again.
READY_WAIT = 5.0
#: How often a waiting process looks at `schema_version` (and at the lock, in case its holder died).
POLL = 0.1


def lock_key(keys: RedisKeys) -> str:
    """The migration lock under the prefix: one key, so any Redis Cluster node can hold it."""
    return f"{keys.prefix}migration:lock"


async def migrate(
    client: aioredis.Redis, keys: RedisKeys, *, wait: float = MIGRATION_WAIT, lease: float = MIGRATION_LEASE
) -> int:
    """Migrate the keys under `keys.prefix`, or wait up to `wait` seconds for the process doing it; the version found.

    Raises SchemaTooNew for a newer layout, StoreUnavailable (after an error line naming the lock)
    when another process's migration outlasts `wait`.
    """
    found = await _version(client, keys)
    if found == SCHEMA_VERSION:
        return found  # the usual start: one GET, no lock
    locks, owner, deadline = RedisLocks(client), uuid.uuid4().hex, time.monotonic() + wait
    waiting = False
    while True:
        if await locks.acquire(lock_key(keys), owner, lease):
            try:
                if await _migrate_holding(client, keys, locks, owner, lease):
                    return found
            finally:
                await locks.release(lock_key(keys), owner)
        elif await _version(client, keys) == SCHEMA_VERSION:
            return found  # another process finished it
        elif not waiting:
            waiting = True
            log.info("store_migration_waiting", extra={"backend": "redis", "lock": lock_key(keys)})
        if time.monotonic() >= deadline:
            log.error(
                "store_migration_wait_exceeded",
                extra={
                    "backend": "redis", "lock": lock_key(keys), "waited": wait,
                    "hint": f"another Nono process is still migrating the keys under {keys.prefix!r}; "
                    "turns fail until it finishes, then work without a restart",
                },
            )  # fmt: skip
            raise StoreUnavailable()
        await asyncio.sleep(POLL)


async def _version(client: aioredis.Redis, keys: RedisKeys) -> int:
    raw = await client.get(keys.version)
    found = int(raw) if raw is not None else 0
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(f"Redis (keys under {keys.prefix!r})", found)
    return found


async def _migrate_holding(
    client: aioredis.Redis, keys: RedisKeys, locks: RedisLocks, owner: str, lease: float
) -> bool:
    """Migrate while holding the lock; False if its lease was lost on the way (someone else finishes)."""
    found = await _version(client, keys)  # the last holder may have finished between our look and our lock
    if found == SCHEMA_VERSION:
        return True
    log.info("store_migration_started", extra={"backend": "redis", "from": found, "lock": lock_key(keys)})
    async with renewed(lambda: locks.acquire(lock_key(keys), owner, lease), lease, "migration") as renewal:
        moved = 0
        if found == 0:  # a SCAN of the whole keyspace: only when there can be something to move
            start = len(keys.legacy_sessions) - 2  # where the id begins: the pattern ends with `{*}`
            async for key in client.scan_iter(match=keys.legacy_sessions, count=500):
                if renewal.lost:
                    return False
                moved += await _move(client, keys, text(key)[start:-1])
            await _move_index(client, keys)
        if renewal.lost:
            return False
        await client.set(keys.version, SCHEMA_VERSION)
    if moved:
        log.warning("store_migrated", extra={"backend": "redis", "from": found, "to": SCHEMA_VERSION, "moved": moved})
    return True


async def _move(client: Any, keys: RedisKeys, conversation_id: str) -> int:
    """Move one conversation to the new names; 1 if it moved, 0 if it was already gone (moved by another)."""
    while True:
        try:
            return await _move_once(client, keys, conversation_id)
        except WatchError:  # its old keys changed while we read them: read them again
            continue


async def _move_once(client: Any, keys: RedisKeys, conversation_id: str) -> int:
    old, new = keys.legacy_conversation(conversation_id), keys.conversation(conversation_id)
    async with client.pipeline(transaction=True) as pipe:
        await pipe.watch(*old)
        session = await pipe.hgetall(old[0])
        items = await pipe.lrange(old[1], 0, -1)
        metadata = await pipe.hgetall(old[2])
        ttl = await pipe.pttl(old[0])
        if not (session or items or metadata):
            return 0  # nothing left under the old names: deleting the new ones would lose the moved data
        pipe.multi()
        pipe.delete(*new)
        if session:
            fields = {text(k): v for k, v in session.items()}
            fields["conversation_id"] = fields.pop("user_id", conversation_id)
            pipe.hset(new[0], mapping=fields)
        if items:
            pipe.rpush(new[1], *[_with_speaker(conversation_id, item) for item in items])
        if metadata:
            pipe.hset(new[2], mapping=metadata)
        if ttl is not None and ttl > 0:
            for key in new:
                pipe.pexpire(key, ttl)
        pipe.delete(*old)
        await pipe.execute()
    return 1


def _with_speaker(conversation_id: str, item: bytes | str) -> bytes:
    """A stored message with its speaker recorded, when schema 0's data tells who it was."""
    data: dict[str, Any] = json.loads(item)
    if data.get("role") == "user" and "speaker" not in data:
        speaker = legacy_speaker(conversation_id, data.get("metadata") or {})
        if speaker is not None:
            data["speaker"] = {"id": speaker, "name": None}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


async def _move_index(client: Any, keys: RedisKeys) -> None:
    entries: list[tuple[bytes, float]] = await client.zrange(keys.legacy_index, 0, -1, withscores=True)
    if entries:
        await client.zadd(keys.index, {text(member): score for member, score in entries})
    await client.delete(keys.legacy_index)
