"""Bring the Redis keys under a prefix to the current schema, at start-up, idempotently.

Schema 0 kept one user's data in `session:{id}`, `chat:{id}:history`, `chat:{id}:metadata` and
indexed them in `sessions:active`. Schema 1 names them after conversations (`conv:{id}`…,
`conversations:active`) and records each user message's speaker. Each conversation moves in one
MULTI/EXEC (its keys share a hash tag, hence a slot), so a crash leaves every conversation either
old or new, and running again finishes the job. `schema_version` is written last.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis.asyncio as aioredis

from nono.core.store.base import SCHEMA_VERSION, SchemaTooNew, legacy_speaker

log = logging.getLogger(__name__)


async def migrate(client: aioredis.Redis, prefix: str) -> int:
    """Migrate the keys under `prefix`; the version found. Raises SchemaTooNew for a newer layout."""
    version_key = f"{prefix}schema_version"
    raw = await client.get(version_key)
    found = int(raw) if raw is not None else 0
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(f"Redis (keys under {prefix!r})", found)
    if found == SCHEMA_VERSION:
        return found
    moved = 0
    async for key in client.scan_iter(match=f"{prefix}session:{{*}}", count=500):
        name = key.decode() if isinstance(key, bytes) else key
        await _move(client, prefix, name[len(prefix) + len("session:{") : -1])
        moved += 1
    await _move_index(client, prefix)
    await client.set(version_key, SCHEMA_VERSION)
    if moved:
        log.warning("store_migrated", extra={"backend": "redis", "from": found, "to": SCHEMA_VERSION, "moved": moved})
    return found


async def _move(client: Any, prefix: str, conversation_id: str) -> None:
    tag = f"{{{conversation_id}}}"
    old = (f"{prefix}session:{tag}", f"{prefix}chat:{tag}:history", f"{prefix}chat:{tag}:metadata")
    new = (f"{prefix}conv:{tag}", f"{prefix}conv:{tag}:history", f"{prefix}conv:{tag}:metadata")
    async with client.pipeline(transaction=True) as pipe:
        await pipe.watch(*old)
        session = await pipe.hgetall(old[0])
        items = await pipe.lrange(old[1], 0, -1)
        metadata = await pipe.hgetall(old[2])
        ttl = await pipe.pttl(old[0])
        pipe.multi()
        pipe.delete(*new)
        if session:
            fields = {_text(k): v for k, v in session.items()}
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


async def _move_index(client: Any, prefix: str) -> None:
    old, new = f"{prefix}sessions:active", f"{prefix}conversations:active"
    entries: list[tuple[bytes, float]] = await client.zrange(old, 0, -1, withscores=True)
    if entries:
        await client.zadd(new, {_text(member): score for member, score in entries})
    await client.delete(old)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value
