"""`python -m bench [--quick] [--only P1,P2] [--out BENCHMARKS.md]`: run the benchmarks, print and write the table.

Each benchmark runs in a child process (`python -m bench.single`), one after the other, so
they never compete with each other for the two cores or share a heap.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import BENCHMARKS
from bench.harness import TIMEOUT, Row, render_table
from bench.report import machine, render


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs (for development)")
    parser.add_argument("--only", default="", help="comma-separated ids, e.g. P1,P2 (default: all)")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"), help="where to write the report")
    args = parser.parse_args(argv)
    args.selected = [part.strip().upper() for part in args.only.split(",") if part.strip()] or list(BENCHMARKS)
    unknown = [name for name in args.selected if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return args


def run_one(bench_id: str, quick: bool) -> list[Row]:
    """Run one benchmark in a child process; a crash or timeout becomes a 'not run' row."""
    with tempfile.TemporaryDirectory(prefix=f"nono-bench-{bench_id}-") as tmp:
        out = Path(tmp) / "rows.json"
        command = [sys.executable, "-m", "bench.single", bench_id, "--json", str(out), "--workdir", tmp]
        if quick:
            command.append("--quick")
        limit = TIMEOUT["quick" if quick else "full"]
        try:
            done = subprocess.run(command, timeout=limit, check=False)
        except subprocess.TimeoutExpired:
            return [_not_run(bench_id, f"stopped after {limit} s")]
        if done.returncode != 0 or not out.exists():
            return [_not_run(bench_id, f"the benchmark process failed (exit {done.returncode}); see its output above")]
        return [Row(**row) for row in json.loads(out.read_text())]


def _not_run(bench_id: str, why: str) -> Row:
    title = BENCHMARKS[bench_id].split(":", 1)[1]
    return Row(bench_id, title, "—", "not run", ok=None, note=why)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    started = time.monotonic()
    rows: list[Row] = []
    for bench_id in args.selected:
        print(f"== {bench_id}: {BENCHMARKS[bench_id].split(':', 1)[1]}", file=sys.stderr, flush=True)
        began = time.monotonic()
        rows += run_one(bench_id, args.quick)
        print(f"== {bench_id} took {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    seconds = time.monotonic() - started
    print(render_table(rows))
    args.out.write_text(render(rows, info, quick=args.quick, selected=args.selected, seconds=seconds))
    print(f"\nwritten to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
