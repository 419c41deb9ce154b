"""Periods: local wall clock in, UTC bounds and a chart resolution out."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from alembic.script import ScriptDirectory

from classpulse.db.migrate import alembic_config
from classpulse.errors import UsageError
from classpulse.flags import MINUTE_CLOSES_AFTER_START_S
from consumers.config import ConsumerConfig
from dashboard.periods import (
    MINUTE_CLOSES_AFTER,
    bucket_for,
    classroom_zone,
    closed_at,
    closed_until,
    live_period,
    range_period,
)

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_minute_closes_by_the_clock_not_the_wall_clock() -> None:
    """The night Berlin's clocks go back, the minute 02:59 CEST (00:59 UTC) closes 190 s later,
    at 01:02:10 UTC; counted on the wall clock (03:02:10, then CET) it would be an hour late."""
    minute = datetime(2025, 10, 26, 2, 59, tzinfo=BERLIN)
    assert minute.astimezone(timezone.utc) == datetime(2025, 10, 26, 0, 59, tzinfo=timezone.utc)
    assert closed_at(minute) == datetime(2025, 10, 26, 1, 2, 10, tzinfo=timezone.utc)


def test_live_period_is_whole_closed_minutes() -> None:
    now = datetime(2025, 3, 3, 9, 41, 37, 500_000, tzinfo=timezone.utc)
    period = live_period(now, 30, BERLIN)
    # 09:41 is under way; 09:39 and 09:40 ended less than MINUTE_CLOSES_AFTER ago, and a
    # consumer may still count a frame of theirs
    assert period.end == datetime(2025, 3, 3, 9, 39, tzinfo=timezone.utc)
    assert period.start == datetime(2025, 3, 3, 9, 9, tzinfo=timezone.utc)
    assert period.bucket_seconds == 60
    # reruns within the same minute ask the same question (the query cache can answer)
    assert live_period(now + timedelta(seconds=20), 30, BERLIN) == period


def newest_closes_after_s() -> int:
    """The closing delay of the views as the newest migration that sets one wrote it out."""
    script = ScriptDirectory.from_config(alembic_config())
    for revision in script.walk_revisions():  # newest first
        if hasattr(revision.module, "CLOSES_AFTER_S"):
            return int(revision.module.CLOSES_AFTER_S)
    raise AssertionError("no migration closes minutes")


def test_a_minute_is_shown_once_the_consumers_last_flush_of_it_is_in() -> None:
    """09:41 ends at 09:42:00; a consumer counts a frame of it up to --max-lag later and commits
    it within two flush intervals, so it is shown from MINUTE_CLOSES_AFTER (their sum) later."""
    config = ConsumerConfig()
    assert timedelta(seconds=config.max_lag_s + 2 * config.flush_interval_s) == (
        MINUTE_CLOSES_AFTER)
    # the views hold a minute from the same instant, so charts and lesson rows end together
    closes_after = timedelta(seconds=newest_closes_after_s())
    assert closes_after == timedelta(seconds=MINUTE_CLOSES_AFTER_START_S)
    assert closes_after == timedelta(minutes=1) + MINUTE_CLOSES_AFTER
    minute = datetime(2025, 3, 3, 9, 41, tzinfo=timezone.utc)
    closes = minute + timedelta(minutes=1) + MINUTE_CLOSES_AFTER
    for now, shown in ((minute + timedelta(seconds=59), False),
                       (closes - timedelta(microseconds=1), False), (closes, True)):
        assert (closed_until(now) > minute) is shown, now
        assert (live_period(now, 30, BERLIN).end > minute) is shown, now


def test_range_period_reads_the_classroom_wall_clock_and_includes_the_last_minute() -> None:
    # Berlin is UTC+1 in winter: 08:00 local is 07:00 UTC
    period = range_period(date(2025, 3, 3), time(8, 0), date(2025, 3, 3), time(14, 59), BERLIN)
    assert period.start == datetime(2025, 3, 3, 7, 0, tzinfo=timezone.utc)
    assert period.end == datetime(2025, 3, 3, 14, 0, tzinfo=timezone.utc)
    assert period.bucket_seconds == 60
    assert period.describe() == "Mon 03 Mar 2025 08:00 – 15:00 (Europe/Berlin)"


def test_range_period_across_the_spring_dst_change() -> None:
    # 30 March 2025: Berlin jumps from 02:00 to 03:00, so that local day has 23 hours
    period = range_period(date(2025, 3, 30), time(0, 0), date(2025, 3, 30), time(23, 59), BERLIN)
    assert period.end - period.start == timedelta(hours=23)
    assert period.start == datetime(2025, 3, 29, 23, 0, tzinfo=timezone.utc)


def test_a_time_the_clocks_skip_is_read_as_the_jump() -> None:
    """From the sidebar, "01:00 to 02:30" the night Berlin's clocks go forward ran to 03:31 (an
    hour and a half for the hour asked). A skipped From or To is the jump: the first instant the
    wall clock shows that time or later; where the clocks jump at midnight (Santiago), "from
    00:00" is the day's first instant."""
    day, utc = date(2025, 3, 30), timezone.utc
    period = range_period(day, time(1, 0), day, time(2, 30), BERLIN)
    assert (period.start, period.end) == (datetime(2025, 3, 30, 0, 0, tzinfo=utc),
                                          datetime(2025, 3, 30, 1, 0, tzinfo=utc))  # 03:00 CEST
    period = range_period(day, time(2, 30), day, time(3, 59), BERLIN)
    assert (period.start, period.end) == (datetime(2025, 3, 30, 1, 0, tzinfo=utc),
                                          datetime(2025, 3, 30, 2, 0, tzinfo=utc))
    santiago, first = ZoneInfo("America/Santiago"), date(2025, 9, 7)  # 00:00 -> 01:00
    period = range_period(first, time(0, 0), first, time(23, 59), santiago)
    assert period.start == datetime(2025, 9, 7, 4, 0, tzinfo=utc)  # 01:00, UTC-3
    assert period.end - period.start == timedelta(hours=23)


@pytest.mark.parametrize(
    ("span", "bucket"),
    [
        (timedelta(hours=1), 60),
        (timedelta(hours=12), 60),
        (timedelta(days=1), 300),
        (timedelta(days=7), 900),
        (timedelta(days=30), 3600),
        (timedelta(days=366), 3600),
    ],
)
def test_long_periods_get_coarser_buckets(span: timedelta, bucket: int) -> None:
    assert bucket_for(span) == bucket


def test_a_year_at_the_coarsest_bucket_stays_drawable() -> None:
    assert timedelta(days=366) / timedelta(seconds=bucket_for(timedelta(days=366))) <= 9000


def test_end_before_start_names_both_and_the_fix() -> None:
    with pytest.raises(UsageError, match=r"ends \(2025-03-02 08:00\).*starts \(2025-03-03 08:00\)"):
        range_period(date(2025, 3, 3), time(8), date(2025, 3, 2), time(8), BERLIN)


def test_unknown_time_zone_names_the_value_and_the_fix() -> None:
    with pytest.raises(UsageError, match=r"'Europe/Berlinn'.*Europe/Berlin"):
        classroom_zone("Europe/Berlinn")
    assert classroom_zone("UTC").key == "UTC"
