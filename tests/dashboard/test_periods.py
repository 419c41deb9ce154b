"""Periods: local wall clock in, UTC bounds and a chart resolution out."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from classpulse.errors import UsageError
from dashboard.periods import (
    bucket_for,
    classroom_zone,
    live_period,
    range_period,
)

BERLIN = ZoneInfo("Europe/Berlin")


def test_live_period_is_whole_minutes_including_the_current_one() -> None:
    now = datetime(2025, 3, 3, 9, 41, 37, 500_000, tzinfo=timezone.utc)
    period = live_period(now, 30, BERLIN)
    assert period.end == datetime(2025, 3, 3, 9, 42, tzinfo=timezone.utc)
    assert period.start == datetime(2025, 3, 3, 9, 12, tzinfo=timezone.utc)
    assert period.bucket_seconds == 60
    assert period.live
    # reruns within the same minute ask the same question (the query cache can answer)
    assert live_period(now + timedelta(seconds=20), 30, BERLIN) == period


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
