"""A real 3-primary Redis Cluster on loopback ports, started once per test run.

Three `redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create` (no replicas,
no persistence). Tests share it under their own key prefixes; `stop` ends the three processes.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.redis_server import free_port

#: Primaries: enough for the hash slots of one test's keys to land on different servers.
PRIMARIES = 3


class MissingBinary(Exception):
    """`redis-server` or `redis-cli` is not installed (the only reason the cluster tests may skip)."""


class RedisCluster:
    """Three cluster-enabled redis-servers under `directory`, joined into one cluster."""

    def __init__(self, directory: Path) -> None:
        self.server, self.cli = (_binary("redis-server"), _binary("redis-cli"))
        self.directory = directory
        self.ports = _free_ports(PRIMARIES)
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """A startup node of the cluster (the client discovers the others)."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> RedisCluster:
        """Start the servers, create the cluster and wait until every node says `cluster_state:ok`."""
        try:
            for port in self.ports:
                self.processes.append(self._server(port))
            for port in self.ports:
                _wait(lambda port=port: self._cli(port, "PING").strip() == "PONG", f"redis-server on port {port}")
            nodes = [f"127.0.0.1:{port}" for port in self.ports]
            create = [self.cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"]
            subprocess.run(create, check=True, capture_output=True, timeout=30)
            for port in self.ports:
                _wait(lambda port=port: "cluster_state:ok" in self._cli(port, "CLUSTER", "INFO"), "cluster_state:ok")
        except BaseException:
            self.stop()
            raise
        return self

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every key under `prefix`, on every primary."""
        from redis.asyncio.cluster import RedisCluster as Client

        client = Client.from_url(self.url)
        try:
            async for key in client.scan_iter(match=f"{prefix}*", count=500):
                await client.delete(key)
        finally:
            await client.aclose()

    def stop(self) -> None:
        """Stop every server (SIGTERM, then SIGKILL if one lingers)."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()

    def _server(self, port: int) -> subprocess.Popen[bytes]:
        command = [
            self.server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--cluster-enabled", "yes", "--cluster-config-file", str(self.directory / f"nodes-{port}.conf"),
            "--save", "", "--appendonly", "no",
        ]  # fmt: skip
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _cli(self, port: int, *command: str) -> str:
        done = subprocess.run(
            [self.cli, "-h", "127.0.0.1", "-p", str(port), *command], capture_output=True, text=True, timeout=5
        )
        return done.stdout


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingBinary(f"{name} is not installed: the Redis Cluster tests need it (Debian: redis-server)")
    return path


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports whose cluster bus ports (port + 10000) are free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports and port + 10000 < 65536 and _free(port + 10000):
            ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait(ready: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"the test Redis Cluster did not become ready: {what}")
