"""A small HTTP/1.1 load generator, run as its own process so it never shares the server's event loop.

    python -m bench.http_load --base http://127.0.0.1:8080 --paths /a /b --concurrency 64 --duration 5

`concurrency` keep-alive connections each send one GET at a time (a closed loop: bounded
concurrency, bounded duration), picking paths round-robin. It speaks just enough HTTP for JSON
APIs (Content-Length bodies) on raw asyncio streams, which costs far less CPU per request than a
full client, so on a shared machine the server, not the generator, sets the pace. Prints one JSON
line: requests, rps, latency percentiles, and the status codes seen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from urllib.parse import urlsplit


async def worker(
    host: str,
    port: int,
    requests: list[bytes],
    stop_at: float,
    warm_until: float,
    latencies: list[float],
    statuses: Counter,
) -> None:
    """One connection, one request at a time, until the deadline."""
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while (now := time.perf_counter()) < stop_at:
            writer.write(requests[i % len(requests)])
            i += 1
            status, length = await _read_head(reader)
            await reader.readexactly(length)
            if now >= warm_until:
                latencies.append(time.perf_counter() - now)
                statuses[status] += 1
    finally:
        writer.close()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return status, int(value)
    raise RuntimeError(f"a response without Content-Length: {lines[0]!r}")


def build_requests(base: str, paths: list[str], headers: list[str]) -> tuple[str, int, list[bytes]]:
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    extra = "".join(f"{h}\r\n" for h in headers)
    raw = [f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode() for p in paths]
    return host, port, raw


async def main(args: argparse.Namespace) -> dict:
    host, port, requests = build_requests(args.base, args.paths, args.header)
    latencies: list[float] = []
    statuses: Counter = Counter()
    start = time.perf_counter()
    warm_until = start + args.warmup
    stop_at = warm_until + args.duration
    # Each worker starts at a different path so the mix is the same at any moment.
    await asyncio.gather(
        *(
            worker(
                host,
                port,
                requests[i % len(requests) :] + requests[: i % len(requests)],
                stop_at,
                warm_until,
                latencies,
                statuses,
            )
            for i in range(args.concurrency)
        )
    )
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] if latencies else float("nan")

    return {
        "requests": len(latencies),
        "rps": len(latencies) / args.duration,
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "max": latencies[-1] if latencies else float("nan"),
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.http_load")
    parser.add_argument("--base", required=True)
    parser.add_argument("--paths", nargs="+", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    return parser.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse(sys.argv[1:])))), flush=True)
