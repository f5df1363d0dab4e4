"""The demo's period, its clock and its data folder: any day, pinned or not."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cx_tasks.config import settings
from cx_tasks.demo.run import (
    DEMO_MARK,
    DemoPlan,
    NotTheDemosFolder,
    demo_clock,
    demo_plan_of,
    nightly_arguments,
    replaceable,
    reset_data,
    run_demo,
)

WALL = datetime(2026, 12, 7, 20, 15, tzinfo=UTC)


def test_todays_demo_simulates_the_180_days_that_end_yesterday() -> None:
    plan = DemoPlan(end=WALL.date())
    # 2026-12-07 - 180 days = 2026-06-10; the history ends 2026-12-06 (yesterday)
    assert (plan.start, plan.end) == (date(2026, 6, 10), date(2026, 12, 7))
    # five nights: the intervals ending 2026-12-03 .. 2026-12-07 (02:00 UTC); snapshot +10 days
    assert (plan.first_nightly, plan.snapshot_end) == (date(2026, 12, 3), date(2026, 12, 17))
    # the history load's interval [2026-12-01 02:00, 2026-12-02 02:00) is the schedule's first
    assert plan.first_interval_start == date(2026, 12, 1)
    assert nightly_arguments(plan)[:5] == ["cx_collect_nightly", "--first", "2026-12-02",
                                           "--last", "2026-12-07"]


def test_todays_demo_runs_on_the_wall_clock() -> None:
    assert demo_clock(DemoPlan(end=WALL.date()), lambda: WALL)() == WALL


def test_a_demo_pinned_a_year_back_answers_the_day_its_nights_ran() -> None:
    plan = DemoPlan(end=date(2025, 12, 7))
    # 2026-12-07 - 2025-12-07 = 365 days back, same time of day
    assert demo_clock(plan, lambda: WALL)() == datetime(2025, 12, 7, 20, 15, tzinfo=UTC)


def test_the_demo_replaces_only_a_folder_it_made(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    assert replaceable(folder) is None            # absent
    folder.mkdir()
    assert replaceable(folder) is None            # empty
    (folder / "warehouse.db").write_text("someone's")
    assert replaceable(folder) is False           # not the demo's
    (folder / DEMO_MARK).write_text("")
    assert replaceable(folder) is True


def test_the_demos_folder_keeps_its_plan(tmp_path: Path) -> None:
    config = settings({"CX_DATA_DIR": str(tmp_path / "data")})
    plan = DemoPlan(end=date(2025, 12, 7), clients=50)
    reset_data(config, plan)
    assert replaceable(config.data_dir) is True
    assert demo_plan_of(config.data_dir) == plan


def test_the_demo_refuses_a_folder_it_did_not_make_before_touching_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "warehouse.db").write_text("someone's")
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    steps: list[str] = []
    with pytest.raises(NotTheDemosFolder, match="did not make; not replacing it"):
        run_demo(DemoPlan(end=WALL.date()), lambda: WALL, steps.append, steps.append)
    assert steps == [] and (tmp_path / "warehouse.db").read_text() == "someone's"


def test_the_demos_digests_are_of_its_own_day_and_week_never_after_its_clock() -> None:
    from cx_tasks.monitor.demo import last_digest_time, monitor_demo_runs
    from cx_tasks.monitor.rules import monitor_rules

    rules = monitor_rules().digests  # Europe/Moscow (UTC+3), 08:00, Monday

    # Tuesday 02:05 in Moscow: the daily digest of Monday 08:00 (05:00 UTC), same week
    late = datetime(2026, 12, 7, 23, 5, tzinfo=UTC)
    assert last_digest_time(late, rules) == datetime(2026, 12, 7, 5, tzinfo=UTC)
    assert last_digest_time(late, rules, 0) == datetime(2026, 12, 7, 5, tzinfo=UTC)
    # Monday 07:59 in Moscow: Sunday's daily digest and the Monday before's weekly one
    early = datetime(2026, 12, 7, 4, 59, tzinfo=UTC)
    assert last_digest_time(early, rules) == datetime(2026, 12, 6, 5, tzinfo=UTC)
    assert last_digest_time(early, rules, 0) == datetime(2026, 11, 30, 5, tzinfo=UTC)
    on_time = datetime(2026, 12, 7, 5, tzinfo=UTC)  # 08:00 sharp: that digest is due
    assert last_digest_time(on_time, rules) == on_time
    # UTC+10: Tuesday 09:05 there is Monday 23:05 UTC; its 08:00 is Monday 22:00 UTC
    east = rules.model_copy(update={"timezone": "Asia/Vladivostok"})
    assert last_digest_time(late, east) == datetime(2026, 12, 7, 22, tzinfo=UTC)
    runs = [arguments for arguments, _ in monitor_demo_runs(late, rules)]
    assert runs[1] == ["cx_monitor_daily_digest", "--first", "2026-12-07", "--last",
                       "2026-12-07"]
    assert runs[2][2] == "2026-12-07"
