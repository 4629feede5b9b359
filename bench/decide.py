"""Ratio rows that reach a verdict on a noisy machine: many short alternating pairs, judged on their quartiles.

A per-pair ratio (subject ÷ baseline, measured back to back) cancels the machine's slow drift, but a
burst of other work during one half of a pair still throws that pair off. So a row is judged on the
middle half of its pairs, not on one median: **pass** when the lower quartile meets the goal (three
pairs in four do), **miss** when the upper quartile does not (three in four fail), and otherwise the
run is measured again, up to `MAX_RUNS` runs in all; a row no run could decide is reported as
**undecided** with every run's figures. Each run is judged on its own pairs: the runs are separated
in time precisely so that a noisy minute does not decide the row.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.harness import log, percentile

PASS = "pass"
MISS = "miss"
UNDECIDED = "undecided"

#: Runs of a row in all (the first one and up to two reruns).
MAX_RUNS = 3
#: A rerun starts only when this many times the longest run so far is left (room for its slow minute and the rest).
RERUN_MARGIN = 1.5


@dataclass(frozen=True)
class Spread:
    """One run's per-pair ratios and their quartiles."""

    ratios: tuple[float, ...]

    @property
    def q1(self) -> float:
        return percentile(self.ratios, 25)

    @property
    def median(self) -> float:
        return percentile(self.ratios, 50)

    @property
    def q3(self) -> float:
        return percentile(self.ratios, 75)

    def describe(self) -> str:
        """`median 0.98×, IQR 0.95–1.01× (12 pairs: 0.951, …)`."""
        pairs = ", ".join(f"{r:.3f}" for r in self.ratios)
        return f"median {self.median:.2f}×, IQR {self.q1:.2f}–{self.q3:.2f}× ({len(self.ratios)} pairs: {pairs})"


def judge(ratios: Sequence[float], goal: float, *, at_least: bool = True) -> str:
    """PASS, MISS or UNDECIDED for one run's per-pair ratios against `goal` (≥ goal, or ≤ goal if not `at_least`)."""
    if not ratios:
        raise ValueError("no pairs to judge")
    spread = Spread(tuple(ratios))
    if at_least:
        if spread.q1 >= goal:
            return PASS
        if spread.q3 < goal:
            return MISS
    else:
        if spread.q3 <= goal:
            return PASS
        if spread.q1 > goal:
            return MISS
    return UNDECIDED


@dataclass(frozen=True)
class Decision:
    """The verdict of a row and every run that led to it (the last one decided it, unless undecided)."""

    verdict: str
    runs: tuple[Spread, ...]
    #: Undecided with fewer than the allowed runs because another would not have finished in time.
    out_of_time: bool = False

    @property
    def final(self) -> Spread:
        return self.runs[-1]

    @property
    def ok(self) -> bool | None:
        """What `Row.ok` holds: True, False, or None when undecided."""
        return {PASS: True, MISS: False, UNDECIDED: None}[self.verdict]

    @property
    def iqr(self) -> list[float]:
        """The deciding (or last) run's lower and upper quartile, for `Row.iqr`."""
        return [self.final.q1, self.final.q3]

    def row_fields(self, *, like_for_like: bool = True) -> dict[str, Any]:
        """`Row` fields for this decision: ratio (the deciding run's median), IQR, ok, undecided.

        A comparison that was not like for like (the two sides did different work) is a miss whatever the ratios.
        """
        if not like_for_like:
            return {"ratio": self.final.median, "iqr": self.iqr, "ok": False, "undecided": False}
        return {"ratio": self.final.median, "iqr": self.iqr, "ok": self.ok, "undecided": self.verdict == UNDECIDED}

    def describe(self) -> str:
        """Every run's figures and how the row was decided, for the row's note."""
        runs = "; ".join(f"run {i}: {spread.describe()}" for i, spread in enumerate(self.runs, 1))
        if self.verdict == UNDECIDED:
            runs_done = f"{len(self.runs)} run" + ("s" if len(self.runs) > 1 else "")
            how = f"undecided after {runs_done} (the goal lay between the quartiles each time)"
            if self.out_of_time:
                how += "; no time was left for another run"
        else:
            how = f"decided by run {len(self.runs)} ({self.verdict})"
        return f"{how}. {runs}"


async def decide(
    measure: Callable[[], Awaitable[Sequence[float]]],
    goal: float,
    *,
    at_least: bool = True,
    max_runs: int = MAX_RUNS,
    seconds_left: Callable[[], float] | None = None,
) -> Decision:
    """Call `measure` (one run: its per-pair ratios) until a run is decided, at most `max_runs` times.

    With `seconds_left` (e.g. `Context.seconds_left`), a rerun starts only if it can finish in time
    (judged by the longest run so far): an undecided row with its figures beats one stopped as "not run".
    """
    runs: list[Spread] = []
    verdict = UNDECIDED
    longest = 0.0
    while verdict == UNDECIDED and len(runs) < max_runs:
        if runs and seconds_left is not None and seconds_left() <= longest * RERUN_MARGIN:
            log(f"no time left for run {len(runs) + 1} (a run took up to {longest:.0f} s)")
            return Decision(verdict, tuple(runs), out_of_time=True)
        began = time.monotonic()
        runs.append(Spread(tuple(await measure())))
        longest = max(longest, time.monotonic() - began)
        verdict = judge(runs[-1].ratios, goal, at_least=at_least)
        log(f"run {len(runs)}: {runs[-1].describe()} → {verdict}")
    return Decision(verdict, tuple(runs))
