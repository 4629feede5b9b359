"""Redis backend: one hash and one list per user, plus a sorted set of sessions by activity.

Keys (under the prefix): `session:{user}` (hash: user_id, persona, created_at,
last_activity, message_count), `chat:{user}:history` (list of JSON messages, oldest first,
so a message's position is its `seq`), `chat:{user}:metadata` (the session's free-form
metadata, one JSON value per field, so merging is a plain HSET with no read-modify-write)
and `sessions:active` (user ids scored by last activity). The braces are Redis Cluster hash tags: one user's
keys live on one shard. A turn costs two round trips: `load_context` and `append_turn`, each
one Lua script (see `redis_scripts`); a page of history, or of active sessions with its total, is one more.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from nono.core.models import ActivePage, Message, Session
from nono.core.store import redis_scripts as scripts
from nono.core.store.common import OutageGuard, lower_bound

log = logging.getLogger(__name__)

#: Connections per process; more concurrent store calls wait (up to 5 s) for one to be free.
MAX_CONNECTIONS = 64

#: Stands for the user id in a key template; never part of one (user ids contain no whitespace).
_ID = "\n"


class RedisStore:
    """Sessions and histories in Redis (redis-py asyncio). The store owns and closes `client`."""

    def __init__(
        self, client: aioredis.Redis, prefix: str = "nono:", history_ttl: float | None = None, *,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._redis = client
        self._prefix = prefix
        self.history_ttl = history_ttl
        self._clock = clock
        self._ttl_ms = None if history_ttl is None else max(1, round(history_ttl * 1000))
        self._index = f"{prefix}sessions:active"
        # Connection loss, timeouts, OOM, READONLY, MISCONF...: the user can only retry later.
        self._guard = OutageGuard(log, "redis", (RedisError, OSError))
        self._load_context = client.register_script(scripts.LOAD_CONTEXT)
        self._history = client.register_script(scripts.HISTORY)
        self._activity = client.register_script(scripts.ACTIVITY)
        self._active_page = client.register_script(scripts.ACTIVE_PAGE)
        self._key_templates = [*self._session_key(_ID).split(_ID), *self._metadata_key(_ID).split(_ID)]

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

    def _session_key(self, user_id: str) -> str:
        return f"{self._prefix}session:{{{user_id}}}"

    def _history_key(self, user_id: str) -> str:
        return f"{self._prefix}chat:{{{user_id}}}:history"

    def _metadata_key(self, user_id: str) -> str:
        return f"{self._prefix}chat:{{{user_id}}}:metadata"

    def _user_keys(self, user_id: str) -> tuple[str, str, str]:
        return self._session_key(user_id), self._history_key(user_id), self._metadata_key(user_id)

    async def load_context(self, user_id: str, limit: int) -> tuple[Session | None, list[Message]]:
        """The session and the newest `limit` messages (oldest first), in one round trip."""
        keys = [self._session_key(user_id), self._metadata_key(user_id), self._history_key(user_id)]
        with self._guard("load_context"):
            raw, meta, length, items = await self._load_context(keys=keys, args=[max(0, limit)])
        return _session(_pairs(raw), _pairs(meta)), _messages(items, first=length - len(items))

    async def get_session(self, user_id: str) -> Session | None:
        """The user's session, or None when there is none (never created, reset, or expired)."""
        return (await self.load_context(user_id, 0))[0]

    async def history(self, user_id: str, limit: int, before: int | None = None) -> list[Message]:
        """Up to `limit` messages with `seq < before` (all when None), newest last, each with `seq` set."""
        if limit <= 0 or (before is not None and before <= 0):
            return []
        args = [limit, "" if before is None else before]
        with self._guard("history"):
            first, items = await self._history(keys=[self._history_key(user_id)], args=args)
        return _messages(items, first=int(first))

    async def active_page(self, since: float, offset: int = 0, limit: int = 50) -> ActivePage:
        """Sessions active at or after `since`, most recent first, and how many there are in all."""
        if limit <= 0:
            return ActivePage([], await self.count_active(since))
        lowest = repr(float(lower_bound(since, self.history_ttl, self._clock)))
        with self._guard("active_page"):
            total, rows = await self._active_page(
                keys=[self._index], args=[lowest, max(0, offset), limit, *self._key_templates]
            )
            sessions = [_listed_session(_text(user_id), fields, meta) for user_id, fields, meta in rows]
            gone = [user_id for (user_id, _, _), session in zip(rows, sessions, strict=True) if session is None]
            if gone:  # expired or evicted: drop their stale index entries now that we saw them
                await self._redis.zrem(self._index, *gone)
        return ActivePage([session for session in sessions if session is not None], int(total) - len(gone))

    async def count_active(self, since: float) -> int:
        """How many sessions were active at or after `since`."""
        # With HISTORY_TTL, a session idle longer than it has expired even if its index entry lingers.
        lowest = lower_bound(since, self.history_ttl, self._clock)
        with self._guard("count_active"):
            return int(await self._redis.zcount(self._index, lowest, "+inf"))

    async def set_persona(self, user_id: str, persona: str, now: float) -> Session:
        """Create the session if needed and set its persona; counts as activity."""
        return await self._write("set_persona", user_id, persona, now, persona_wins=True)

    async def touch(self, user_id: str, persona: str, now: float, metadata: dict[str, Any] | None = None) -> Session:
        """Create the session with `persona` if it does not exist, else mark it active (persona unchanged)."""
        return await self._write("touch", user_id, persona, now, metadata=metadata)

    async def append_turn(self, user_id: str, persona: str, messages: list[Message], now: float) -> Session:
        """Atomically append `messages` and update the session (created with `persona` if missing)."""
        # backslashreplace turns a lone surrogate into a JSON \\uXXXX escape inside its string:
        # valid UTF-8 on the wire, and json.loads gives the same text back.
        payload = [message.to_json().encode("utf-8", "backslashreplace") for message in messages]
        return await self._write("append_turn", user_id, persona, now, payload=payload)

    async def _write(
        self,
        op: str,
        user_id: str,
        persona: str,
        now: float,
        *,
        persona_wins: bool = False,
        metadata: dict[str, Any] | None = None,
        payload: Sequence[bytes] = (),
    ) -> Session:
        """Append `payload`, upsert the session, index it, refresh TTLs: one script. Returns the session as written."""
        keys = [self._session_key(user_id), self._history_key(user_id), self._metadata_key(user_id), self._index]
        stamp = repr(float(now))
        ttl = "" if self._ttl_ms is None else str(self._ttl_ms)
        expired = "" if self.history_ttl is None else f"({now - self.history_ttl!r}"
        fields = [item for k, v in (metadata or {}).items() for item in (_field(k), _dump(v))]
        args = [
            user_id,
            persona,
            stamp,
            "1" if persona_wins else "0",
            ttl,
            expired,
            len(fields) // 2,
            *fields,
            *payload,
        ]
        with self._guard(op):
            raw, meta = await self._activity(keys=keys, args=args)
        session = _session(_pairs(raw), _pairs(meta))
        assert session is not None, "the script just wrote this session"
        return session

    async def clear(self, user_id: str) -> bool:
        """Forget the user's session and history; True if there was anything to forget."""

        def queue(pipe: Pipeline) -> None:
            pipe.delete(*self._user_keys(user_id))
            pipe.zrem(self._index, user_id)

        deleted, unindexed = await self._transaction("clear", queue)
        return bool(deleted or unindexed)

    async def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers."""
        with self._guard("ping"):
            await self._redis.ping()

    async def durability_warnings(self) -> list[str]:
        """Operator warnings when Redis could evict or lose history ([] if CONFIG is not allowed)."""
        with self._guard("durability_warnings"):
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for name in ("maxmemory-policy", "appendonly", "save"):
                        pipe.config_get(name)
                    replies = await pipe.execute()
            except ResponseError as exc:  # managed Redis often forbids or renames CONFIG
                log.warning("redis_config_unreadable", extra={"error": str(exc)})
                return []
        policy, appendonly, save = (_text(next(iter(reply.values()), "")) for reply in replies)
        warnings = []
        if policy != "noeviction":
            warnings.append(
                f"Redis maxmemory-policy is {policy!r}: Redis may evict sessions and chat history "
                "when it runs out of memory. Set maxmemory-policy to noeviction."
            )
        if appendonly != "yes" and not save.strip():
            warnings.append(
                "Redis persistence is off (appendonly no and no save rules): a Redis restart loses "
                "every session and chat history. Set appendonly yes."
            )
        return warnings

    async def aclose(self) -> None:
        """Close the client and its connection pool."""
        await self._redis.aclose()

    async def _transaction(self, op: str, queue: Callable[[Pipeline], None]) -> list[Any]:
        """Run the commands `queue` adds as one MULTI/EXEC: one round trip, all or nothing."""
        with self._guard(op):
            async with self._redis.pipeline(transaction=True) as pipe:
                queue(pipe)
                return await pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    """A hash as a script returns it, [field, value, field, value, ...], as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _messages(items: list[bytes] | list[str], first: int) -> list[Message]:
    """Stored messages, the first one at position `first`."""
    if not items:
        return []
    # One json.loads for the whole page: 50 calls cost 3x more, mostly in json's Python layers (bench P7).
    joined = b",".join(items) if isinstance(items[0], bytes) else ",".join(items).encode()
    return [Message.from_data(data, first + i) for i, data in enumerate(json.loads(b"[" + joined + b"]"))]


def _dump(value: Any) -> str:
    # ASCII escapes keep odd unicode (lone surrogates) storable and round-trip exactly.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _field(name: str) -> bytes:
    # A hash field name is raw bytes; a lone surrogate in it is kept as its \uXXXX escape.
    return name.encode("utf-8", "backslashreplace")


def _session(raw: dict[Any, Any], metadata: dict[Any, Any]) -> Session | None:
    if not raw:
        return None
    fields = {_text(key): value for key, value in raw.items()}
    user_id, persona = _text(fields["user_id"]), _text(fields["persona"])
    created_at, last_activity = float(fields["created_at"]), float(fields["last_activity"])
    count = int(fields.get("message_count", 0))
    return Session(user_id, persona, created_at, last_activity, count, _metadata(metadata.items()))


def _listed_session(user_id: str, fields: list[Any], metadata: list[Any]) -> Session | None:
    """A session as the active-page script returns it: HMGET values in order, HGETALL as a flat list."""
    persona, created_at, last_activity, count = fields
    if persona is None:
        return None
    meta = _metadata(zip(metadata[::2], metadata[1::2], strict=True)) if metadata else {}
    return Session(user_id, _text(persona), float(created_at), float(last_activity), int(count or 0), meta)


def _metadata(items: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
    return {_text(key): json.loads(value) for key, value in items}
