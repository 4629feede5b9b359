"""What the store says in the log: an outage names where the store is (host:port, never the password); at DEBUG
each operation is one line with its duration, and without DEBUG there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from nono.core.errors import StoreUnavailable
from nono.core.store.redis_store import RedisStore
from nono.core.store.sqlite_store import SQLiteStore
from tests.support.json_log import json_log
from tests.support.redis_server import free_port

PASSWORD = "store-password-not-logged"


async def test_a_redis_outage_names_host_and_port_but_not_the_password() -> None:
    port = free_port()  # nobody listens: connections are refused
    store = RedisStore.from_url(f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    try:
        with json_log("INFO") as log, pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        await store.aclose()
    [line] = log.events("store_unavailable")
    assert (line["backend"], line["where"], line["op"]) == ("redis", f"127.0.0.1:{port}", "ping")
    assert PASSWORD not in log.text


async def test_at_debug_each_store_operation_is_one_timed_line(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "nono.sqlite3")
    try:
        with json_log("DEBUG") as log:
            await store.ping()
            await store.history("rest:nobody", 10)
        with json_log("INFO") as quiet:
            await store.ping()
    finally:
        await store.aclose()
    ops = log.events("store_op")
    assert [(line["backend"], line["op"]) for line in ops][-2:] == [("sqlite", "ping"), ("sqlite", "history")]
    assert all(line["ms"] >= 0 for line in ops)
    assert not quiet.events("store_op")


async def test_redis_operations_are_timed_at_debug_too(redis_store: RedisStore) -> None:
    with json_log("DEBUG") as log:
        await redis_store.ping()
    assert ("redis", "ping") in [(line["backend"], line["op"]) for line in log.events("store_op")]
