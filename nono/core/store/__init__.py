"""Storage backends, picked from a table by name."""

from __future__ import annotations

from nono.core.store.base import Store

__all__ = ["Store", "STORE_BACKENDS"]

#: name → "module:Class", imported lazily so an unused backend's client is never loaded.
STORE_BACKENDS = {
    "sqlite": "nono.core.store.sqlite_store:SQLiteStore",
    "redis": "nono.core.store.redis_store:RedisStore",
}
