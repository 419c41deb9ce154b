"""The period a page shows: UTC bounds for the queries, the classroom's zone, the chart resolution.

Teachers think in the classroom's wall clock; the database stores UTC minutes. A ``Period`` is the
one place where the two meet, so every query gets UTC instants and every chart gets local times.
Long periods are drawn at a coarser resolution (buckets of several minutes) so a browser never has
to draw a year of minutes; a bucket is 1, 5 or 15 minutes, or an hour for periods over two
weeks. Buckets are cut on UTC: up to 15 minutes they never straddle a local quarter hour in any
real time zone (every offset in use is a multiple of 15 minutes); an hour's bucket in a zone offset
by a half or quarter hour covers, say, 09:30-10:30 local, and its point is drawn at 09:30. The day
table and the hour-of-week heatmap are cut from 15-minute buckets, so they follow local hours.

A minute is shown only once it has closed (:func:`closed_until`): the consumers add to the minute
under way at every flush, and the small-group rule judges it on its faces so far, so two readings
of it a few seconds apart (two CSV downloads, two live refreshes) could be subtracted to give the
expressions of the faces read in between, one child's once the class has left mid-minute. When a
given minute closes (:func:`closed_at`), and whether a write or a closing is too long ago to be
"now" (:func:`is_stale`), are reckoned here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from classpulse.errors import UsageError
from classpulse.flags import MINUTE_CLOSES_AFTER_START_S

MINUTE = 60
# (longest period, bucket seconds): a day of minutes, a week of 5-minute buckets, ...
RESOLUTIONS: tuple[tuple[timedelta, int], ...] = (
    (timedelta(hours=12), MINUTE),
    (timedelta(days=3), 5 * MINUTE),
    (timedelta(days=14), 15 * MINUTE),
)
COARSEST_BUCKET = 60 * MINUTE
# history (day table, hour-of-week heatmap) is cut from 15-minute buckets converted to local time
HISTORY_BUCKET = 15 * MINUTE
# How long after its end a minute counts as closed (classpulse.flags.MINUTE_CLOSES_AFTER_START_S,
# less the minute itself): a consumer counts a frame up to --max-lag after its capture, then
# analyses and commits it within two flush intervals, so it adds nothing to a minute after this.
# A flush the database refused and that goes through later, a batch whose analysis takes longer
# than a flush interval, or a consumer whose clock runs behind the database's, still can. The views
# hold a minute from the same instant (0015_closes_after_max_lag, by the database's clock).
MINUTE_CLOSES_AFTER = timedelta(seconds=MINUTE_CLOSES_AFTER_START_S - MINUTE)
# no write for this long, or no minute closed for this long: the consumer is probably not running
STALE_AFTER = timedelta(minutes=3)


@dataclass(frozen=True)
class Period:
    """What a page shows: ``[start, end)`` in UTC, the classroom's zone, the bucket size."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    bucket_seconds: int

    def describe(self) -> str:
        """The period in local time: ``Mon 03 Nov 2025 08:00 – 15:00 (Europe/Paris)``."""
        start, end = self.start.astimezone(self.tz), self.end.astimezone(self.tz)
        end_fmt = "%H:%M" if start.date() == end.date() else "%a %d %b %Y %H:%M"
        return f"{start:%a %d %b %Y %H:%M} – {end:{end_fmt}} ({self.tz.key})"

    @property
    def fetch_bucket_seconds(self) -> int:
        """The bucket to query: fine enough for the charts and for the 15-minute history.

        Buckets are additive (hidden minutes are dropped before summing), so the page queries once
        and regroups the rows in pandas instead of asking the database twice.
        """
        return min(self.bucket_seconds, HISTORY_BUCKET)

    def resolution_label(self) -> str:
        """How much time one point of a chart covers, in words."""
        minutes = self.bucket_seconds // MINUTE
        return "one minute" if minutes == 1 else f"{minutes} minutes"


def classroom_zone(name: str) -> ZoneInfo:
    """The classroom's IANA zone; a name the system does not know is an operator's error to fix."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"classroom time zone {name!r} is not an IANA zone name; set classrooms.timezone to "
            "one such as Europe/Berlin or America/New_York"
        ) from None


def bucket_for(span: timedelta) -> int:
    """Bucket seconds for a period of this length: minutes for a lesson, hours for a year."""
    for longest, seconds in RESOLUTIONS:
        if span <= longest:
            return seconds
    return COARSEST_BUCKET


def floor_minute(moment: datetime) -> datetime:
    """The start of the UTC minute holding ``moment`` (aware)."""
    return moment.astimezone(timezone.utc).replace(second=0, microsecond=0)


def closed_until(now: datetime) -> datetime:
    """The end of the newest closed minute at ``now`` (UTC): minutes that start before it are
    shown, the others are still filling up (see the module)."""
    return floor_minute(now - MINUTE_CLOSES_AFTER)


def closed_at(minute: datetime) -> datetime:
    """The instant the minute starting at ``minute`` (aware) closed, or will (UTC): from then on no
    consumer adds to it, and the page shows it (:data:`MINUTE_CLOSES_AFTER`). In UTC first, so a
    night the clocks change does not move it an hour."""
    return minute.astimezone(timezone.utc) + timedelta(minutes=1) + MINUTE_CLOSES_AFTER


def is_stale(moment: datetime, now: datetime) -> bool:
    """Nothing newer than ``moment`` for longer than STALE_AFTER: it is not "now" any more.

    ``moment`` is when something happened: a write, or a minute's closing (:func:`closed_at`).
    Never a minute's start: a minute is shown only from a minute and MINUTE_CLOSES_AFTER after
    its start, longer than STALE_AFTER, so even while consumers run the newest minute shown
    started longer ago than that.
    """
    return now - moment > STALE_AFTER


def live_period(now: datetime, minutes: int, tz: ZoneInfo) -> Period:
    """The last ``minutes`` closed minutes (:func:`closed_until`), at minute resolution.

    Bounds are whole minutes, so reruns within one minute ask the same question and the query cache
    can answer them.
    """
    if minutes < 1:
        raise UsageError(f"live window of {minutes} minutes; choose at least 1")
    end = closed_until(now)
    return Period(end - timedelta(minutes=minutes), end, tz, MINUTE)


def local_instant(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """A wall-clock date and time in ``tz`` as a UTC instant (the earlier one when DST repeats,
    :func:`repeated`). A time the clocks skip (:func:`skipped`) has none: it comes back as the
    jump, the first instant whose wall clock shows that time or later (02:30 as 03:00 in Berlin
    the night the clocks go forward; 00:00 as 01:00, the day's first instant, where they jump at
    midnight), found minute by minute between the two offsets' readings of it, an hour or two
    apart."""
    wall = datetime.combine(day, clock)
    readings = sorted(wall.replace(tzinfo=tz, fold=fold).astimezone(timezone.utc)
                      for fold in (0, 1))
    moment = readings[0]
    while moment < readings[1] and moment.astimezone(tz).replace(tzinfo=None) < wall:
        moment += timedelta(minutes=1)
    return moment


def skipped(day: date, clock: time, tz: ZoneInfo) -> bool:
    """Whether the wall clock of ``tz`` never shows ``day clock``: the clocks jump over it when
    they go forward. Such a time does not survive a round trip through UTC."""
    wall = datetime.combine(day, clock)
    back = local_instant(day, clock, tz).astimezone(tz).replace(tzinfo=None)
    return back != wall


def repeated(day: date, clock: time, tz: ZoneInfo) -> bool:
    """Whether the wall clock of ``tz`` shows ``day clock`` twice (the clocks go back):
    :func:`local_instant`, and so every period, takes the first."""
    first = datetime.combine(day, clock, tzinfo=tz)
    return (first.utcoffset() != first.replace(fold=1).utcoffset()
            and not skipped(day, clock, tz))


def range_bounds(first_day: date, from_time: time, last_day: date, to_time: time,
                 tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants ``[start, end)`` of ``first_day from_time`` to ``last_day to_time``, that
    minute included, in ``tz``. A time the clocks skip is the jump (:func:`local_instant`):
    "from 02:30" the night Berlin's clocks go forward starts at 03:00, and "to 02:30" ends there
    (it ran to 03:31, an hour more than asked, when a skipped time was the jump's length later).
    The page's period and the cameras its select offers are both cut here."""
    start = local_instant(first_day, from_time, tz)
    to_minute = to_time.replace(second=0, microsecond=0)
    end = local_instant(last_day, to_minute, tz)
    return start, end if skipped(last_day, to_minute, tz) else end + timedelta(minutes=1)


def range_period(
    first_day: date, from_time: time, last_day: date, to_time: time, tz: ZoneInfo
) -> Period:
    """From ``first_day from_time`` to ``last_day to_time`` (that minute included), in ``tz``.

    Including the last minute lets "to 23:59" mean the whole day, as a teacher reads it.
    """
    start, end = range_bounds(first_day, from_time, last_day, to_time, tz)
    if end <= start:
        raise UsageError(
            f"the period ends ({last_day} {to_time:%H:%M}) before it starts "
            f"({first_day} {from_time:%H:%M}); pick a later end"
        )
    return Period(start, end, tz, bucket_for(end - start))
