"""From ``lesson_summaries`` rows to what the lessons view shows; pure pandas, no Streamlit.

A lesson's numbers are those of the minutes its charts draw (:func:`charted`: shown, their faces
mostly read, judged per minute as a date range's charts and day table judge them), so its row never
tells a mix the charts leave out; the view's ``faces`` and ``faces_read`` (over every shown minute)
say whether the lesson's faces were mostly read as a whole. This module also picks the main
emotion, words the times (in the classroom's zone) and the shares, says when a lesson has no data
or data for part of it only, and which lessons its title's trend may compare.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from classpulse.years import FIRST_DAY, LAST_DAY
from dashboard import text, transform
from dashboard.lesson_states import (
    ALL_HIDDEN,
    CLOSING,
    NO_DATA,
    NOT_YET,
    PART_RECORDED,
    SO_FAR,
    UNDER_WAY,
    UNREADABLE,
)
from dashboard.periods import closed_at, floor_minute, local_instant
from dashboard.sql import mostly_read

TABLE_COLUMNS: tuple[str, ...] = (
    "lesson_id", "day", "time", "title", "main_emotion", "main_share", "engagement",
    "faces_in_view", "minutes", "hidden_minutes", "data",
)
DAY_FORMAT = "%a %d %b"  # a lesson's day in the table, and an end on another day
# A lesson enters its title's trend, and is compared with the lesson before, only with at least
# this many shown minutes: engagement swings from minute to minute (the minute charts' band spans
# ten points for that reason), so a mean over a few minutes is a moment of the lesson, not the
# lesson; ten minutes is a quarter of a usual 40-50 minute lesson. It is checked beside
# MIN_RECORDED_PERCENT, which keeps out a lesson recorded in part (a lesson of fewer than ten
# minutes stays out however much of it was recorded).
MIN_TREND_MINUTES = 10
MIN_RECORDED_PERCENT = 80
"""A lesson's numbers stand for the whole lesson only once it has ended, its last minute has
closed, and minutes with data (shown or hidden: the cameras and a consumer ran) cover at least
this share of its minutes; below it the row's note says how many minutes it rests on, and the
lesson is left out of its title's trend and of the comparison with the lesson before. A lesson is
no even stream: settling in, the middle and packing up differ, so a mean over its first ten
minutes (the cameras or the consumer stopped) set beside last week's whole lesson compares a
phase with a lesson. 80% lets a lesson lose a few minutes (a camera restarting, 9 of 45) and
still be compared; a lesson cut off halfway is not."""
# The days whose weeks the lessons view opens: the days the wire format carries frames from
# (``classpulse.wire.in_time_range``), so no counted minute lies outside them. A link's week far
# beyond (9999-12-31, or 0001-01-01 in a zone east of UTC) would overflow the week's date
# arithmetic.
SHOWN_DAYS = (FIRST_DAY, LAST_DAY)


def week_start(day: date) -> date:
    """The Monday of ``day``'s week (weeks run Monday to Sunday)."""
    return day - timedelta(days=day.weekday())


def week_bounds(monday: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of that Monday's and the next Monday's local midnight."""
    return (local_instant(monday, time(0), tz),
            local_instant(monday + timedelta(days=7), time(0), tz))


def charted(lessons: pd.DataFrame, buckets: pd.DataFrame) -> pd.DataFrame:
    """``lessons`` with their numbers over their charted minutes only, from ``buckets``
    (:func:`dashboard.sql.fetch_buckets` at 60 s, covering the lessons): ``minutes`` (charted),
    ``unread_minutes`` (shown, their faces mostly not read), ``hidden_minutes``, faces in view,
    engagement and shares, as :func:`dashboard.transform.summarise` gives them for a day.
    ``lesson_summaries`` sums every shown minute: one minute of many faces mostly unread swung a
    lesson's main emotion to the few faces read that the charts beside it leave out."""
    if lessons.empty:
        return lessons.assign(unread_minutes=pd.Series(dtype="int64"))
    minute = buckets["bucket_start"].to_numpy()  # epoch seconds
    starts, ends = _seconds(lessons["starts_at"]), _seconds(lessons["ends_at"])
    # (lesson, minute) pairs: overlapping lessons share minutes, as lesson_summaries counts them
    lesson, at = np.nonzero((minute >= starts[:, None]) & (minute < ends[:, None]))
    numbers = transform.summarise(
        buckets.iloc[at].assign(lesson_id=lessons["lesson_id"].to_numpy()[lesson]), ["lesson_id"])
    columns = list(numbers.columns)
    counts = ["minutes", "unread_minutes", "hidden_minutes"]
    out = lessons.drop(columns=[c for c in columns if c in lessons]).join(
        numbers, on="lesson_id")
    out[counts] = out[counts].fillna(0).astype("int64")
    return out


def main_emotions(lessons: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(main expression in words, its share) of each lesson, as :func:`dashboard.transform.
    main_emotions` names them (ties included); empty where it has no shown faces, or most of them
    could not be read."""
    emotion, share = transform.main_emotions(lessons)
    read = mostly_read(lessons["faces"], lessons["faces_read"])
    return emotion.where(read), share.where(read)


@dataclass(frozen=True)
class PartOfLesson:
    """A lesson whose numbers rest on part of it: ``state`` (SO_FAR, CLOSING or PART_RECORDED,
    :func:`part_of_lesson`), ``recorded`` minutes with data (shown or hidden) of its ``length``
    minutes."""

    state: str
    recorded: int
    length: int


def lesson_minutes(lesson: pd.Series) -> int:
    """How many minutes the lesson holds: those starting in ``[starts_at, ends_at)``, as
    ``lesson_summaries`` counts them."""
    first = pd.Timestamp(lesson["starts_at"]).ceil("min")
    return max(0, math.ceil((pd.Timestamp(lesson["ends_at"]) - first) / pd.Timedelta(minutes=1)))


def part_of_lesson(lesson: pd.Series, now: datetime) -> PartOfLesson | None:
    """The part of the lesson its numbers rest on, when they have minutes but not the whole
    lesson: while it is under way (SO_FAR), after its end until its last minute closes (CLOSING),
    or once closed with data (charted, unread or hidden minutes: the cameras and a consumer ran)
    for fewer than MIN_RECORDED_PERCENT of its minutes (PART_RECORDED). None for a whole lesson,
    and for one without any minute, whose :func:`status` says why."""
    recorded = (int(lesson["minutes"]) + int(lesson["unread_minutes"])
                + int(lesson["hidden_minutes"]))
    if recorded == 0:
        return None
    length = lesson_minutes(lesson)
    if under_way(lesson, now):
        return PartOfLesson(SO_FAR, recorded, length)
    if pd.Timestamp(now) < last_minute_closes(lesson):
        return PartOfLesson(CLOSING, recorded, length)
    if 100 * recorded < MIN_RECORDED_PERCENT * length:
        return PartOfLesson(PART_RECORDED, recorded, length)
    return None


def note(lesson: pd.Series, now: datetime) -> str:
    """The row's note: why its numbers are empty (:func:`status`), what part of the lesson they
    rest on (:func:`part_of_lesson`), and how many minutes they leave out as not read; "" for a
    whole lesson whose every shown minute is in its numbers."""
    part = part_of_lesson(lesson, now)
    empty = status(lesson, now)
    unread = int(lesson["unread_minutes"])
    said = [empty, text.lesson_part(part.state, part.recorded, part.length) if part else "",
            text.lesson_unread(unread) if unread and not empty else "",
            text.room_shared(int(lesson["shared_minutes"]), lesson_minutes(lesson))
            if room_shared(lesson) else ""]
    return "; ".join(s for s in said if s)


def status(lesson: pd.Series, now: datetime) -> str:
    """Why a lesson's numbers are empty, in words; "" when it has charted minutes and its faces
    were mostly read as a whole."""
    if lesson["minutes"] > 0:
        return "" if mostly_read(lesson["faces"], lesson["faces_read"]) else UNREADABLE
    if lesson["unread_minutes"] > 0:
        return UNREADABLE
    if lesson["hidden_minutes"] > 0:
        return ALL_HIDDEN
    if lesson["starts_at"] > pd.Timestamp(now):
        return NOT_YET
    if under_way(lesson, now):
        return UNDER_WAY
    return CLOSING if pd.Timestamp(now) < last_minute_closes(lesson) else NO_DATA


def under_way(lesson: pd.Series, now: datetime) -> bool:
    """The lesson has started and not ended: its numbers are the minutes so far."""
    return bool(lesson["starts_at"] <= pd.Timestamp(now) < lesson["ends_at"])


def last_minute_closes(lesson: pd.Series) -> datetime:
    """When the lesson's last minute (the one holding the instant before its end) closes: until
    then its row lacks minutes a consumer may still add to, so a short lesson that just ended
    without a closed minute is not "no data" yet."""
    end = pd.Timestamp(lesson["ends_at"]).to_pydatetime()
    return closed_at(floor_minute(end - timedelta(microseconds=1)))


def until(end: datetime, day: date, day_format: str = DAY_FORMAT) -> str:
    """A lesson's end (local, aware) on the wall clock, with its day (``day_format``) when that is
    not ``day``: "08:00–15:00" must not stand for a lesson that ends two days later."""
    if end.date() == day:
        return f"{end:%H:%M}"
    return f"{end:{day_format} %H:%M}"


def table(lessons: pd.DataFrame, tz: ZoneInfo, now: datetime) -> pd.DataFrame:
    """One row per lesson with TABLE_COLUMNS, in start order; the main share as words
    (:func:`dashboard.text.share`), the note as :func:`note` words it."""
    if lessons.empty:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    start = lessons["starts_at"].dt.tz_convert(tz.key)
    end = lessons["ends_at"].dt.tz_convert(tz.key)
    emotion, share = main_emotions(lessons)
    out = pd.DataFrame({
        "lesson_id": lessons["lesson_id"],
        "day": start.dt.strftime(DAY_FORMAT),
        "time": [f"{s:%H:%M}–{until(e, s.date())}" for s, e in zip(start, end, strict=True)],
        "title": lessons["title"],
        "main_emotion": emotion,
        "main_share": transform.share_texts(share),
        # like the main emotion, engagement rests on read faces: empty where most were not
        "engagement": lessons["engagement"].astype("float64").where(
            mostly_read(lessons["faces"], lessons["faces_read"])),
        "faces_in_view": lessons["faces_in_view"].astype("float64"),
        "minutes": lessons["minutes"],
        "hidden_minutes": lessons["hidden_minutes"],
        "data": [note(row, now) for _, row in lessons.iterrows()],
    })
    return out[list(TABLE_COLUMNS)].reset_index(drop=True)


def shared_room(lessons: pd.DataFrame, others: pd.DataFrame) -> pd.DataFrame:
    """Per lesson, the other lessons held in its classroom during it (``others``: the classroom's
    lessons overlapping ``lessons``, which may hold some of them): ``shared_minutes``, how many of
    its minutes (those starting in ``[starts_at, ends_at)``) start inside another lesson, and
    ``shared_with``, (title, group, start, end) of those lessons in start order. A class minute is
    everyone the classroom's cameras saw, so two groups taught in one room at once (or a
    timetable error) give both lessons the same numbers, both groups' faces together: neither is
    the lesson its title and group name."""
    columns = ["lesson_id", "title", "group_label", "starts_at", "ends_at"]
    pool = pd.concat([lessons[columns], *([others[columns]] if not others.empty else [])],
                     ignore_index=True).drop_duplicates("lesson_id")
    pool = pool.sort_values(["starts_at", "lesson_id"]).reset_index(drop=True)
    pool_ids = pool["lesson_id"].to_numpy()
    pool_starts = _seconds(pool["starts_at"])
    pool_ends = _seconds(pool["ends_at"])
    # _group by hand: Series.map leaves a string column's gaps as NaN without calling it
    pool_names = list(zip(pool["title"].astype(str), [_group(g) for g in pool["group_label"]],
                          strict=True))
    shared, named = [], []
    for lesson_id, title, group, start, end in zip(
            lessons["lesson_id"], lessons["title"].astype(str),
            [_group(g) for g in lessons["group_label"]],
            _seconds(lessons["starts_at"]), _seconds(lessons["ends_at"]), strict=True):
        lo, hi = np.maximum(pool_starts, start), np.minimum(pool_ends, end)
        # the same lesson stored twice (its title and times, and its group where both copies
        # name one: an iCalendar file names none, so a timetable imported from a CSV file and
        # an .ics file) is the lesson, not another one in its room; two groups' lessons of one
        # title at once are two lessons
        twin = (np.array([t == title and (g is None or group is None or g == group)
                          for t, g in pool_names], bool)
                & (pool_starts == start) & (pool_ends == end))
        # whole minutes of epoch seconds starting in [lo, hi): the lesson's minutes inside another
        hit = (np.ceil(hi / 60) > np.ceil(lo / 60)) & (pool_ids != lesson_id) & ~twin
        spans = _merged(zip(lo[hit], hi[hit], strict=True))
        shared.append(sum(_minute_starts(a, b) for a, b in spans))
        named.append(tuple((str(o.title), _group(o.group_label), o.starts_at, o.ends_at)
                           for o in pool[hit].itertuples()))
    return pd.DataFrame({"shared_minutes": pd.Series(shared, index=lessons.index, dtype="int64"),
                         "shared_with": pd.Series(named, index=lessons.index, dtype=object)})


def _group(label: object) -> str | None:
    """A group label, None for none (NULL, NaN where pandas fills gaps, or empty)."""
    return None if label is None or pd.isna(label) or not label else str(label)


def _seconds(times: pd.Series) -> np.ndarray:
    """Epoch seconds, as Python computes them: nanoseconds overflow by 2262."""
    return times.map(pd.Timestamp.timestamp).to_numpy(dtype="float64")


def _minute_starts(lo: float, hi: float) -> int:
    """How many minute starts (whole minutes of epoch seconds) lie in ``[lo, hi)``."""
    return max(0, math.ceil(hi / 60) - math.ceil(lo / 60))


def _merged(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def room_shared(lesson: pd.Series) -> bool:
    """Another lesson was held in the lesson's classroom for more than the rest
    (100 - MIN_RECORDED_PERCENT) of its minutes (:func:`shared_room`): its numbers are not its
    group's, so its row says so and its title's trend leaves it out. A few minutes at a
    changeover (a lesson ending at 09:50, the next starting at 09:45) keep it in."""
    return 100 * int(lesson["shared_minutes"]) > ((100 - MIN_RECORDED_PERCENT)
                                                   * lesson_minutes(lesson))


def lesson_cameras(lessons: pd.DataFrame, recorded: pd.DataFrame) -> pd.DataFrame:
    """Per lesson, the cameras that recorded it: ``cameras``, those with minutes, shown or hidden
    (``recorded``: ``camera_id, minute_start`` in epoch seconds, the lessons' classroom), for at
    least MIN_RECORDED_PERCENT of its minutes, sorted; ``cameras_part``, (camera, minutes) of
    those that recorded more than the rest (100 - MIN_RECORDED_PERCENT) and less than that. A
    class minute sums its shown cameras, so a lesson seen by the front camera alone (the back one
    off) describes other pupils than one seen by both: its title's trend compares lessons of the
    same cameras only, and none with a camera on for part of it, whose mix of pupils shifts
    within the lesson. Hidden minutes count as recorded: a back camera that reads too few faces
    in some minutes (the small-group rule) ran all the same, and which of its minutes the rule
    hides follows the class (faces turned down, pupils away), not the equipment; counting only
    shown minutes put most lessons of such a room out of every trend. So a lesson whose back
    camera was hidden throughout is one of both cameras, though its numbers are the front's.
    Minutes hidden for being written after they closed (``revised``) do not count: that follows
    the equipment (a consumer behind), and the class minutes are then the other cameras'
    (:func:`dashboard.lesson_sql._recorded_camera_minutes`)."""
    minute = recorded["minute_start"].to_numpy(dtype="float64")
    camera_ids = recorded["camera_id"].to_numpy(dtype=object)
    cameras, parts = [], []
    for _, lesson in lessons.iterrows():
        inside = ((minute >= pd.Timestamp(lesson["starts_at"]).timestamp())
                  & (minute < pd.Timestamp(lesson["ends_at"]).timestamp()))
        counts = pd.Series(camera_ids[inside]).value_counts()
        length = lesson_minutes(lesson)
        whole = 100 * counts >= MIN_RECORDED_PERCENT * length
        off = 100 * counts <= (100 - MIN_RECORDED_PERCENT) * length
        cameras.append(tuple(sorted(str(c) for c in counts[whole].index)))
        parts.append(tuple(sorted((str(c), int(n)) for c, n in counts[~whole & ~off].items())))
    return pd.DataFrame({"cameras": pd.Series(cameras, index=lessons.index, dtype=object),
                         "cameras_part": pd.Series(parts, index=lessons.index, dtype=object)})


def _why_not_compared(lesson: pd.Series, now: datetime) -> str:
    """Why the lesson is no part of its title's trend, worded for the page; "" when it may be
    (:func:`in_trend`)."""
    part = part_of_lesson(lesson, now)
    if part is not None:
        return text.lesson_part(part.state, part.recorded, part.length)
    minutes, length = int(lesson["minutes"]), lesson_minutes(lesson)
    if lesson["minutes"] < MIN_TREND_MINUTES:
        return text.too_few_charted(minutes)
    if not mostly_read(lesson["faces"], lesson["faces_read"]):
        return UNREADABLE
    if 100 * minutes < MIN_RECORDED_PERCENT * length:
        return text.part_charted(minutes, length)
    if lesson["cameras_part"]:
        return text.cameras_part(lesson["cameras_part"], length)
    if room_shared(lesson):
        return text.room_shared(int(lesson["shared_minutes"]), length)
    return ""


def in_trend(lessons: pd.DataFrame, now: datetime) -> pd.Series:
    """Per lesson: it is whole (:func:`part_of_lesson`: ended, closed, MIN_RECORDED_PERCENT of
    its minutes with data), at least MIN_RECORDED_PERCENT of its minutes and MIN_TREND_MINUTES
    are charted, most of its faces were read, and no camera was on for part of it only
    (:func:`lesson_cameras`), so its engagement describes the lesson and may be compared.
    Minutes hidden or not read count as data but not as charted: a lesson charted for 10 of its
    45 minutes, the rest hidden, is those 10 minutes, not the lesson. Nor is a lesson another one
    shared the room with (:func:`room_shared`): its numbers are both lessons' pupils'."""
    return pd.Series([not _why_not_compared(row, now) for _, row in lessons.iterrows()],
                     index=lessons.index, dtype=bool)


def _trend_cameras(history: pd.DataFrame, current_id: int,
                   in_it: pd.Series) -> tuple[str, ...]:
    """The cameras the trend compares lessons of: the open lesson's when it is in the trend
    (``in_it``, :func:`in_trend`), else those most of the lessons in it share (the newest's of a
    tie): the trend of a lesson under way is its past, which one lesson with a camera off does
    not speak for."""
    kept = history[in_it]
    current = kept[kept["lesson_id"] == current_id]
    if not current.empty:
        return tuple(current["cameras"].iloc[-1])
    if kept.empty:
        return ()
    sets = [tuple(c) for c in kept["cameras"]]
    return max(reversed(sets), key=sets.count)  # the newest first: max keeps the first of a tie


def _same_cameras(history: pd.DataFrame, cameras: tuple[str, ...]) -> pd.Series:
    return history["cameras"].map(lambda c: tuple(c) == cameras).astype(bool)


def last_distinct(history: pd.DataFrame, current_id: int, limit: int) -> pd.DataFrame:
    """The last ``limit`` lessons of ``history`` (one title's and group's lessons in one
    classroom, oldest first), one of each start and end: two such lessons at the same times are
    one lesson stored twice (two timetable files), whose numbers are the same class minutes', and
    were one point drawn twice and a time listed twice (and, fetched ``limit`` rows at a time,
    half the trend's lessons). The open lesson is the one kept. The history that
    :func:`title_trend` and :func:`left_out` take."""
    others_last = history.assign(_other=history["lesson_id"] != current_id).sort_values(
        "_other", kind="stable")
    kept = others_last.drop_duplicates(["starts_at", "ends_at"]).index
    return history.loc[history.index.isin(kept)].tail(limit)


def title_trend(history: pd.DataFrame, current_id: int, tz: ZoneInfo,
                now: datetime) -> pd.DataFrame:
    """``time, engagement, minutes, current``: of the title's lessons (one group's:
    :func:`dashboard.lesson_sql.fetch_title_history`), those :func:`in_trend` and recorded by the
    same cameras (:func:`lesson_cameras`) as the open lesson, or, when the open one is not in the
    trend, as most lessons in it (:func:`_trend_cameras`). The others have no engagement worth
    comparing with it, a lesson under way or recorded in part least of all. ``history`` holds a
    lesson stored twice once (:func:`last_distinct`)."""
    in_it = in_trend(history, now)
    shown = history[in_it & _same_cameras(history, _trend_cameras(history, current_id, in_it))]
    return pd.DataFrame({
        "time": shown["starts_at"].dt.tz_convert(tz.key),
        "engagement": shown["engagement"].astype("float64"),
        "minutes": shown["minutes"],
        "current": shown["lesson_id"] == current_id,
    }).reset_index(drop=True)


def left_out(history: pd.DataFrame, current_id: int, tz: ZoneInfo,
             now: datetime) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """(``time, current, why``: the title's lessons :func:`title_trend` leaves out, oldest first,
    each with why in words (``dashboard.text.trend_left_out`` lists them); the cameras the trend
    compares lessons of)."""
    why = pd.Series([_why_not_compared(row, now) for _, row in history.iterrows()],
                    index=history.index, dtype=object)
    cameras = _trend_cameras(history, current_id, why == "")  # in_trend, as why says it
    same = _same_cameras(history, cameras)
    why = why.where(why != "", pd.Series(
        ["" if s else text.OTHER_CAMERAS for s in same], index=history.index, dtype=object))
    out = history[why != ""]
    return pd.DataFrame({
        "time": out["starts_at"].dt.tz_convert(tz.key),
        "current": out["lesson_id"] == current_id,
        "why": why[why != ""],
    }).reset_index(drop=True), cameras


def change_from_previous(trend: pd.DataFrame) -> tuple[float, pd.Timestamp] | None:
    """(engagement now minus the lesson before, that lesson's local start) for the open lesson;
    None when it has no lesson before or is not in ``trend`` (:func:`title_trend`: one group's
    lessons of the same cameras), so a lesson under way or recorded in part is neither compared
    nor the lesson before.

    The lesson before started strictly earlier: one of the same title and group starting at the
    same time (ending at another time: no twin, :func:`last_distinct`) is no lesson before."""
    current = trend[trend["current"]]
    if len(current) != 1:
        return None
    now = current.iloc[0]
    earlier = trend[trend["time"] < now["time"]]
    if earlier.empty:
        return None
    previous = earlier.iloc[-1]
    return float(now["engagement"] - previous["engagement"]), previous["time"]
