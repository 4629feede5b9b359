"""Stores over the same data, opened again and again as another process (or a restart) would open them.

The contracts of what processes share (replays, leads, duties) need several stores on one backend:
`reopening` gives a function opening one more, and closes them all at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from nono.core.store import Store
from nono.core.store.redis_store import RedisStore
from nono.core.store.sqlite_store import SQLiteStore
from tests.conftest import REDIS_URL

OpenStore = Callable[[], Store]


def backend_of(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The fixture's param and a key prefix; for real Redis and the cluster, the conftest prefix that skips
    without them and deletes our keys afterwards."""
    kind = request.param
    if kind in ("redis", "cluster"):
        return kind, request.getfixturevalue(f"{kind}_prefix")
    return kind, f"test:{uuid.uuid4().hex}:"


@asynccontextmanager
async def reopening(
    backend: tuple[str, str], sqlite_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[OpenStore]:
    """`open_store()`: a new store of `backend` over the same data at each call."""
    import fakeredis

    kind, prefix = backend
    server = fakeredis.FakeServer()
    opened: list[Store] = []

    def open_one() -> Store:
        store: Store
        if kind == "sqlite":
            store = SQLiteStore(sqlite_path)
        elif kind == "fakeredis":
            store = RedisStore(fakeredis.FakeAsyncRedis(server=server), prefix=prefix)
        elif kind == "cluster":
            store = RedisStore.from_url(request.getfixturevalue("redis_cluster").url, prefix=prefix, cluster=True)
        else:
            store = RedisStore.from_url(REDIS_URL, prefix=prefix)
        opened.append(store)
        return store

    try:
        yield open_one
    finally:
        for store in opened:
            await store.aclose()
