"""The decision rule of ratio rows (bench.decide) and how the report shows its verdicts."""

from __future__ import annotations

import json

import pytest

from bench.decide import MAX_RUNS, MISS, PASS, UNDECIDED, decide, judge
from bench.harness import Row, render_table
from bench.report import render

GOAL = 0.95

# Eight pairs each; sorted, the quartiles fall between the 2nd/3rd and 6th/7th values.
MOSTLY_ABOVE = [0.80, 0.96, 0.97, 0.99, 1.00, 1.01, 1.02, 1.20]  # one pair in eight below the goal
MOSTLY_BELOW = [0.70, 0.85, 0.88, 0.90, 0.91, 0.92, 0.94, 1.10]  # one pair in eight above it
STRADDLING = [0.85, 0.88, 0.91, 0.93, 0.97, 1.00, 1.04, 1.06]  # the goal inside the middle half


@pytest.mark.parametrize(
    ("ratios", "verdict"),
    [(MOSTLY_ABOVE, PASS), (MOSTLY_BELOW, MISS), (STRADDLING, UNDECIDED), ([0.95] * 4, PASS), ([1.5, 0.1], UNDECIDED)],
)
def test_a_run_is_judged_on_the_quartiles_of_its_pairs_not_on_its_extremes(ratios: list[float], verdict: str) -> None:
    assert judge(ratios, GOAL) == verdict
    assert judge(list(reversed(ratios)), GOAL) == verdict  # order of the pairs does not matter


def test_a_goal_of_at_most_is_judged_the_other_way_round() -> None:
    times = [1.00, 1.02, 1.05, 1.08, 1.09, 1.10, 1.12, 1.40]
    assert judge(times, 1.15, at_least=False) == PASS
    assert judge(times, 1.00, at_least=False) == MISS
    assert judge(times, 1.08, at_least=False) == UNDECIDED


def test_a_run_without_pairs_cannot_be_judged() -> None:
    with pytest.raises(ValueError, match="no pairs"):
        judge([], GOAL)


class ScriptedRuns:
    """A benchmark whose runs return the given per-pair ratios, one list per run; fails loudly if run too often."""

    def __init__(self, *runs: list[float]) -> None:
        self.runs = list(runs)
        self.calls = 0

    async def __call__(self) -> list[float]:
        if self.calls == len(self.runs):
            pytest.fail(f"measured a run more than the {len(self.runs)} scripted")
        self.calls += 1
        return self.runs[self.calls - 1]


@pytest.mark.parametrize("first", [MOSTLY_ABOVE, MOSTLY_BELOW])
async def test_a_decided_first_run_is_not_repeated(first: list[float]) -> None:
    measure = ScriptedRuns(first)
    decision = await decide(measure, GOAL)
    assert measure.calls == 1
    assert decision.verdict == judge(first, GOAL)
    assert decision.row_fields()["undecided"] is False


async def test_an_undecided_run_is_measured_again_until_one_decides() -> None:
    measure = ScriptedRuns(STRADDLING, MOSTLY_BELOW)
    decision = await decide(measure, GOAL)
    assert measure.calls == 2
    assert decision.verdict == MISS
    fields = decision.row_fields()
    assert fields["ok"] is False
    assert fields["ratio"] == pytest.approx(0.905)  # the deciding run's median, not the first run's
    assert fields["iqr"] == pytest.approx([0.8725, 0.925])


async def test_a_row_no_run_decides_is_undecided_after_three_runs_with_every_runs_figures() -> None:
    measure = ScriptedRuns(STRADDLING, [0.90, 1.00], [0.94, 0.96, 0.93, 0.97])
    decision = await decide(measure, GOAL)
    assert MAX_RUNS == 3
    assert measure.calls == 3
    assert decision.verdict == UNDECIDED
    fields = decision.row_fields()
    assert fields["ok"] is None
    assert fields["undecided"] is True
    described = decision.describe()
    assert "undecided after 3 runs" in described
    for shown in ("run 1: median 0.95×", "run 2: median 0.95×", "0.850", "1.060", "0.930", "0.970"):
        assert shown in described


async def test_fewer_runs_can_be_allowed() -> None:
    measure = ScriptedRuns(STRADDLING)
    decision = await decide(measure, GOAL, max_runs=1)
    assert (measure.calls, decision.verdict) == (1, UNDECIDED)


async def test_a_rerun_that_could_not_finish_in_time_is_not_started_and_the_row_stays_undecided() -> None:
    measure = ScriptedRuns(STRADDLING, MOSTLY_ABOVE)
    decision = await decide(measure, GOAL, seconds_left=lambda: 0.0)
    assert (measure.calls, decision.verdict, decision.out_of_time) == (1, UNDECIDED, True)
    assert "no time was left for another run" in decision.describe()


async def test_a_rerun_with_time_left_is_measured() -> None:
    measure = ScriptedRuns(STRADDLING, MOSTLY_ABOVE)
    decision = await decide(measure, GOAL, seconds_left=lambda: 3600.0)
    assert (measure.calls, decision.verdict, decision.out_of_time) == (2, PASS, False)


async def test_a_comparison_that_was_not_like_for_like_is_a_miss_whatever_the_ratios() -> None:
    decision = await decide(ScriptedRuns(MOSTLY_ABOVE), GOAL)
    fields = decision.row_fields(like_for_like=False)
    assert (fields["ok"], fields["undecided"]) == (False, False)


async def test_the_report_shows_undecided_rows_with_their_quartiles_and_counts_them_apart() -> None:
    rows = [
        Row("P1", "pass row", "≥ 0.95×", "1", "1", **(await decide(ScriptedRuns(MOSTLY_ABOVE), GOAL)).row_fields()),
        Row("P2", "miss row", "≥ 0.95×", "1", "1", **(await decide(ScriptedRuns(MOSTLY_BELOW), GOAL)).row_fields()),
        Row(
            "P12",
            "undecided row",
            "≥ 0.95×",
            "1",
            "1",
            **(await decide(ScriptedRuns(*[STRADDLING] * 3), GOAL)).row_fields(),
        ),
        Row("P3", "crashed row", "—", "not run"),
    ]
    # Rows travel from the benchmark's process as JSON.
    rows = [Row(**json.loads(json.dumps(row.as_dict()))) for row in rows]
    table = render_table(rows)
    undecided_line = next(line for line in table.splitlines() if line.startswith("| P12 "))
    assert undecided_line.endswith("| 0.95× (IQR 0.90–1.01×) | undecided |")
    assert "| **MISS** |" in next(line for line in table.splitlines() if line.startswith("| P2 "))
    assert "| not run |" in next(line for line in table.splitlines() if line.startswith("| P3 "))
    page = render(rows, {"cores": "2"}, quick=True, selected=["P1", "P2", "P12", "P3"], seconds=1.0)
    assert "**1 pass, 1 miss, 1 undecided, 1 not run or not judged.**" in page
