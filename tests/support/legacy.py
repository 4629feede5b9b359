"""The v0 storage fixtures (tests/fixtures/legacy, written by the stores of commit 5031785), ready to migrate.

Tests get copies: the committed files stay exactly what the old code wrote. The SQLite file is in WAL mode,
as the old store left it, so even a read in place would leave -wal/-shm files next to it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import redis

LEGACY_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "legacy"
SQLITE_FIXTURE = LEGACY_DIR / "nono-v0.sqlite3"
REDIS_FIXTURE = LEGACY_DIR / "nono-v0.redis.json"
EXPECTED_FIXTURE = LEGACY_DIR / "expected.json"


def restore_redis_dump(client: redis.Redis, path: Path, prefix: str) -> list[str]:
    """Write every key of the dump at `path` into Redis, its prefix replaced by `prefix`; returns the keys written.

    A key that already exists is replaced. All keys go in one MULTI/EXEC, so a failure leaves none half-written.
    """
    dump = json.loads(path.read_text(encoding="utf-8"))
    old: str = dump["prefix"]
    written = []
    with client.pipeline(transaction=True) as pipe:
        for key, entry in dump["keys"].items():
            if not key.startswith(old):
                raise ValueError(f"{key!r} is not under the dump's prefix {old!r}")
            target = prefix + key.removeprefix(old)
            pipe.delete(target)
            kind, value = entry["type"], entry["value"]
            if kind == "hash":
                pipe.hset(target, mapping=value)
            elif kind == "list":
                pipe.rpush(target, *value)
            elif kind == "zset":
                pipe.zadd(target, {member: score for member, score in value})
            elif kind == "string":
                pipe.set(target, value)
            else:
                raise ValueError(f"{key!r}: unknown type {kind!r}")
            written.append(target)
        pipe.execute()
    return written


def legacy_sqlite_copy(tmp_path: Path) -> Path:
    """A private copy of the v0 SQLite fixture in `tmp_path` (a migration rewrites the file it opens)."""
    copy = tmp_path / SQLITE_FIXTURE.name
    shutil.copyfile(SQLITE_FIXTURE, copy)
    return copy
