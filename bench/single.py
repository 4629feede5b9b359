"""Run one benchmark in this process and write its rows as JSON (used by `python -m bench`)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from pathlib import Path

from bench import BENCHMARKS
from bench.harness import Context
from nono.bot.logging_setup import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.single")
    parser.add_argument("id", choices=sorted(BENCHMARKS))
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    # The production log set-up (JSON lines at INFO) so its per-turn cost is measured too, into a file.
    log_file = (args.workdir / "nono.log").open("w", encoding="utf-8")
    setup_logging("INFO", stream=log_file)
    module = importlib.import_module(BENCHMARKS[args.id].split(":", 1)[0])
    rows = asyncio.run(module.run(Context(quick=args.quick, workdir=args.workdir)))
    args.json.write_text(json.dumps([row.as_dict() for row in rows], indent=1))
    log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
