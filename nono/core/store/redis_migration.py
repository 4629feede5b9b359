"""Bring the Redis keys under a prefix to the current schema, at start-up, idempotently.

Schema 0 kept one user's data in `session:{id}`, `chat:{id}:history`, `chat:{id}:metadata` and
indexed them in `sessions:active`. Schema 1 names them after conversations (`conv:{id}`…,
`conversations:active`) and records each user message's speaker. Each conversation moves in one
MULTI/EXEC (its keys share a hash tag, hence a slot), so a crash leaves every conversation either
old or new, and running again finishes the job. Schema 2 adds keys (`conv:{id}:summary`,
`conv:{id}:facts`) that start out absent, so from 1 nothing moves. `schema_version` is written last.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as aioredis

from nono.core.store.base import SCHEMA_VERSION, SchemaTooNew, legacy_speaker
from nono.core.store.redis_codec import text
from nono.core.store.redis_keys import RedisKeys

log = logging.getLogger(__name__)


async def migrate(client: aioredis.Redis, keys: RedisKeys) -> int:
    """Migrate the keys under `keys.prefix`; the version found. Raises SchemaTooNew for a newer layout."""
    raw = await client.get(keys.version)
    found = int(raw) if raw is not None else 0
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(f"Redis (keys under {keys.prefix!r})", found)
    if found == SCHEMA_VERSION:
        return found
    moved = 0
    if found == 0:  # a SCAN of the whole keyspace: only when there can be something to move
        start = len(keys.legacy_sessions) - 2  # where the id begins: the pattern ends with `{*}`
        async for key in client.scan_iter(match=keys.legacy_sessions, count=500):
            await _move(client, keys, text(key)[start:-1])
            moved += 1
        await _move_index(client, keys)
    await client.set(keys.version, SCHEMA_VERSION)
    if moved:
        log.warning("store_migrated", extra={"backend": "redis", "from": found, "to": SCHEMA_VERSION, "moved": moved})
    return found


async def _move(client: Any, keys: RedisKeys, conversation_id: str) -> None:
    old, new = keys.legacy_conversation(conversation_id), keys.conversation(conversation_id)
    async with client.pipeline(transaction=True) as pipe:
        await pipe.watch(*old)
        session = await pipe.hgetall(old[0])
        items = await pipe.lrange(old[1], 0, -1)
        metadata = await pipe.hgetall(old[2])
        ttl = await pipe.pttl(old[0])
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
