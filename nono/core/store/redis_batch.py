"""A script and the commands that go with it, sent together: one round trip on a single Redis.

A turn's script touches one conversation's keys (one hash slot); what spans conversations (the
active index, the in-flight sweep index and leases) is written by plain commands in the same
pipeline, without MULTI. On one Redis that is one write and one read of the socket (bench P2
counts them); redis-py's cluster pipeline sends each node its part, in parallel. The script itself
is atomic; the commands beside it are not atomic with it: a crash between them can leave an index
behind the data, never the data half-written, so each index is read as a hint (see its readers).

Scripts go in as EVALSHA (a script object in a pipeline makes redis-py ask SCRIPT EXISTS first, a
round trip more); when Redis has not cached one yet (a restart, a new shard), the scripts are loaded
and the pipeline sent again, so every command queued beside them must be safe to repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError


def evalsha(pipe: Any, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> None:
    """Queue `script` on `pipe` by its digest."""
    pipe.evalsha(script.sha, len(keys), *keys, *args)


async def pipelined(client: Any, queue: Callable[[Any], None], *scripts: AsyncScript) -> list[Any]:
    """The replies of what `queue` adds to one pipeline (no MULTI), after loading `scripts` if Redis lacked one."""
    for attempt in range(2):
        async with client.pipeline(transaction=False) as pipe:
            queue(pipe)
            try:
                return list(await pipe.execute())
            except NoScriptError:
                if attempt:
                    raise
        for script in scripts:  # SCRIPT LOAD reaches every primary of a cluster
            script.sha = await client.script_load(script.script)
    raise AssertionError("unreachable")
