"""One process of P7W's baseline: P7's bare aiohttp app on a port it shares with its twin (SO_REUSEPORT).

    python -m bench.p7_bare_process --port 8123 --targets targets.json

`targets.json` holds P7's targets with the documents the sidecar answered; the app returns each from
memory (`web.json_response`, nothing else) until SIGTERM. It prints one JSON line, `bare_listening`, once
it listens (the benchmark waits for that line in each process's log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bench.p7_sidecar_rps import bare_server
from nono.bot.runner import wait_for_stop_signal


async def serve(port: int, targets: dict) -> None:
    async with bare_server(targets, port, reuse_port=True) as url:
        print(json.dumps({"event": "bare_listening", "url": url}), flush=True)
        await wait_for_stop_signal()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.p7_bare_process")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--targets", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, json.loads(args.targets.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
