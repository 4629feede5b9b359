"""Shared fixtures: personas, the scripted LLM, and every store backend."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry

# Fixtures several folders share, each in one home.
pytest_plugins = ["tests.support.telegram"]

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("NONO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def personas_dir() -> Path:
    return ROOT / "personas"


@pytest.fixture
def registry(personas_dir: Path) -> PersonaRegistry:
    return PersonaRegistry.from_directory(personas_dir, "assistant")


@pytest.fixture
def fake_llm() -> FakeLLM:
    return FakeLLM()


@pytest.fixture
async def sqlite_store(tmp_path: Path):
    from nono.core.store.sqlite_store import SQLiteStore

    store = SQLiteStore(tmp_path / "nono.sqlite3")
    yield store
    await store.aclose()


@pytest.fixture
async def fakeredis_store():
    import fakeredis

    from nono.core.store.redis_store import RedisStore

    client = fakeredis.FakeAsyncRedis()
    store = RedisStore(client, prefix=f"test:{uuid.uuid4().hex}:")
    yield store
    await store.aclose()


async def _real_redis_or_skip():
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable under CI=true: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    return client


@pytest.fixture
async def redis_prefix():
    """A random key prefix on the shared Redis; only our own keys are deleted afterwards."""
    client = await _real_redis_or_skip()
    prefix = f"nono-test:{uuid.uuid4().hex}:"
    yield prefix
    async for key in client.scan_iter(match=f"{prefix}*", count=500):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
async def redis_store(redis_prefix: str):
    from nono.core.store.redis_store import RedisStore

    store = RedisStore.from_url(REDIS_URL, prefix=redis_prefix)
    yield store
    await store.aclose()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A real 3-primary Redis Cluster on loopback ports, started once per run; skipped only without its binaries."""
    from tests.support.redis_cluster import MissingBinary, RedisCluster

    try:
        cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    except MissingBinary as exc:
        pytest.skip(str(exc))
    yield cluster.start()
    cluster.stop()


@pytest.fixture
async def cluster_prefix(redis_cluster):
    """A random key prefix on the test cluster; its keys (on every shard) are deleted afterwards."""
    prefix = f"nono-test:{uuid.uuid4().hex}:"
    yield prefix
    await redis_cluster.delete_prefix(prefix)


@pytest.fixture
async def cluster_store(redis_cluster, cluster_prefix: str):
    """A RedisStore on the test cluster: its keys spread over every shard."""
    from nono.core.store.redis_store import RedisStore

    store = RedisStore.from_url(redis_cluster.url, prefix=cluster_prefix, cluster=True)
    # As start-up does: the client learns the slot map (a few round trips to every primary) and the schema
    # is checked before the first turn, which tests timing one turn against another do not expect to pay.
    await store.migrate()
    yield store
    await store.aclose()


@pytest.fixture(params=["sqlite", "fakeredis", "redis", "cluster"])
def store(request):
    """Every store backend, for the contract tests."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def limits() -> ChatLimits:
    return ChatLimits()


@pytest.fixture
async def chat(sqlite_store, fake_llm: FakeLLM, registry: PersonaRegistry, limits: ChatLimits) -> ChatService:
    """ChatService on SQLite with the scripted LLM (use `store`-parametrized tests for every backend)."""
    return ChatService(sqlite_store, fake_llm, registry, limits)


GREEDY_PERSONA = """\
name: greedy
display_name: Greedy
system_prompt: You are a helpful assistant. Answer in one short sentence.
temperature: 0
max_tokens: 40
"""


@pytest.fixture(scope="session")
def local_llm():
    """The real SmolLM2, loaded once for every end-to-end test that needs it."""
    from nono.core.llm.local_llm import LocalLLM

    llm = LocalLLM(n_ctx=2048, n_threads=2)
    yield llm
    llm.llama.close()


@pytest.fixture
def greedy_registry(tmp_path) -> PersonaRegistry:
    """One persona at temperature 0, so replies can be compared with a direct greedy generation."""
    (tmp_path / "greedy.yaml").write_text(GREEDY_PERSONA)
    return PersonaRegistry.from_directory(tmp_path, "greedy")
