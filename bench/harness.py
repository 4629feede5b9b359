"""What every benchmark shares: rows of the table, medians and percentiles, alternating runs, the report.

A benchmark is a module with `TITLE` and `async def run(ctx: Context) -> list[Row]`. Each one runs
in its own process (see `bench.__main__`), so a model loaded or memory grown by one never skews
another. Numbers are judged as ratios against a baseline measured in the same process, in the
same run, alternating with the subject.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self, TypeVar

T = TypeVar("T")

#: The shared development Redis; benchmarks use a random key prefix and delete only their own keys.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: A benchmark that has not finished after this long is stopped and reported as not run (see `bench.__main__`).
TIMEOUT = {"quick": 240, "full": 420}


@dataclass
class Row:
    """One line of the table. `ok` is None when the line could not be judged (not run, informational, undecided)."""

    id: str
    what: str
    goal: str
    measured: str
    baseline: str = "—"
    ratio: float | None = None
    ok: bool | None = None
    note: str = ""
    #: Lower and upper quartile of the per-pair ratios, for rows judged by `bench.decide`.
    iqr: list[float] | None = None
    #: Measured but no run could decide it (`bench.decide`); `ok` is None then.
    undecided: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    """What a benchmark is given: the mode, where to put files, which Redis to use."""

    quick: bool
    workdir: Path
    redis_url: str = DEFAULT_REDIS_URL
    extra: dict[str, Any] = field(default_factory=dict)
    #: When the benchmark's process began its work (time.monotonic()), for `seconds_left`.
    started: float = field(default_factory=time.monotonic)

    def pick(self, quick: T, full: T) -> T:
        """The quick-mode value or the full one."""
        return quick if self.quick else full

    def seconds_left(self) -> float:
        """How long the benchmark may still run before `python -m bench` stops it (TIMEOUT)."""
        return TIMEOUT["quick" if self.quick else "full"] - (time.monotonic() - self.started)


def logged_events(workdir: Path, min_level: int = logging.WARNING) -> Counter[str]:
    """How often each event at `min_level` or above was logged by the code under test (see bench.single)."""
    counts: Counter[str] = Counter()
    path = workdir / "nono.log"
    if not path.exists():
        return counts
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if logging.getLevelName(record.get("level", "INFO")) >= min_level:
            counts[record.get("event", "?")] += 1
    return counts


def log(message: str) -> None:
    """Progress for the operator (stderr, so it never mixes with results)."""
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- statistics -------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100), linearly interpolated between the two nearest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(subject: float, baseline: float) -> float:
    return subject / baseline if baseline else math.nan


async def alternate(
    rounds: int, baseline: Callable[[], Awaitable[T]], subject: Callable[[], Awaitable[T]]
) -> tuple[list[T], list[T]]:
    """Run baseline and subject `rounds` times each, in ABBA order so neither always goes first."""
    base: list[T] = []
    subj: list[T] = []
    for i in range(rounds):
        if i % 2 == 0:
            base.append(await baseline())
            subj.append(await subject())
        else:
            subj.append(await subject())
            base.append(await baseline())
    return base, subj


class Stopwatch:
    """`with Stopwatch() as sw: ...` then `sw.seconds`."""

    def __enter__(self) -> Self:
        self.start = time.perf_counter()
        self.seconds = math.nan
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self.start


# -- formatting -------------------------------------------------------------------------


def ms(seconds: float, digits: int = 2) -> str:
    return f"{seconds * 1000:.{digits}f} ms"


def per_s(value: float, unit: str = "tok/s") -> str:
    return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.1f} MB"


def verdict(row: Row) -> str:
    if row.undecided:
        return "undecided"
    return {True: "pass", False: "**MISS**", None: "not run"}[row.ok]


def shown_ratio(row: Row) -> str:
    """`0.98×`, with the interquartile range of the pairs when the row has one: `0.98× (IQR 0.95–1.01×)`."""
    if row.ratio is None or math.isnan(row.ratio):
        return "—"
    if row.iqr is None:
        return f"{row.ratio:.2f}×"
    return f"{row.ratio:.2f}× (IQR {row.iqr[0]:.2f}–{row.iqr[1]:.2f}×)"


def render_table(rows: Sequence[Row]) -> str:
    """The Markdown table: goal, measured, baseline, ratio, pass/fail."""
    lines = [
        "| id | what | goal | measured | baseline (same run) | ratio | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [row.id, row.what, row.goal, row.measured, row.baseline, shown_ratio(row), verdict(row)]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def render_notes(rows: Sequence[Row]) -> str:
    notes = [f"- **{row.id}** — {row.note}" for row in rows if row.note]
    return "\n".join(notes)
