"""From query buckets to what the page shows: local times, shares, engagement band, summaries.

Pure pandas, no Streamlit, so every number on the page can be checked without a browser. Inputs are
the bucket frames of :func:`dashboard.sql.fetch_buckets` (sums over shown minutes only, plus a count
of hidden minutes, plus every minute's faces and the readability gate's counts; per bucket a row of
the minutes whose faces were mostly read, ``readable``, and one of the others); means are
face-weighted, exactly like the database views: engagement = engagement_sum / faces_read, share of
an emotion = read faces whose top emotion it was / faces_read, where ``faces_read`` counts the
faces whose expression could be read over all frames. The number of people a teacher sees is
``faces_in_view`` (faces per frame, summed over the cameras a minute is made of; see
:mod:`dashboard.sql`), the faces read at once ``faces_read_in_view``. Where most faces could not
be read (:func:`dashboard.sql.mostly_read`), no mix is drawn: :func:`unreadable` says why
instead. Whether a minute's faces were mostly read is decided per minute, in SQL, so a chart's
point of several minutes holds exactly its minutes that pass, and the others are counted beside
the charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from classpulse.emotions import EMOTIONS
from dashboard import text
from dashboard.sql import COUNT_COLUMNS, mostly_read

SHARE_COLUMNS: tuple[str, ...] = tuple(f"share_{e}" for e in EMOTIONS)
SERIES_COLUMNS: tuple[str, ...] = (
    "time", "minutes", "faces_in_view", "faces_read_in_view", "face_detections", "faces_read",
    "engagement", *SHARE_COLUMNS,
)
# why faces were not read, as the ``seen_*`` columns count them (consumers/gate.py)
REASONS: tuple[str, ...] = ("small", "turned", "uncertain")
BAND_POINTS = 10  # the engagement band spans this many neighbouring points
WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def local_times(epoch_seconds: pd.Series, tz: ZoneInfo) -> pd.Series:
    """Epoch seconds as aware timestamps in the classroom's zone."""
    return pd.to_datetime(epoch_seconds, unit="s", utc=True).dt.tz_convert(tz.key)


def readable(buckets: pd.DataFrame) -> pd.Series:
    """Per row: it holds shown minutes, each of which had most of its faces read (the query
    decides per minute: :func:`dashboard.sql.fetch_buckets`)."""
    return (buckets["readable"] == 1) & (buckets["minutes"] > 0)


def series(buckets: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    """One row per bucket that has shown minutes whose faces were mostly read, made of those
    minutes only, in time order, with SERIES_COLUMNS."""
    shown = buckets[readable(buckets)]
    faces = shown["faces_read"].astype("float64")
    out = pd.DataFrame({
        "time": local_times(shown["bucket_start"], tz),
        "minutes": shown["minutes"].astype("int64"),
        "faces_in_view": shown["faces_in_view"] / shown["minutes"],
        "faces_read_in_view": shown["faces_read_in_view"] / shown["minutes"],
        "face_detections": shown["faces"].astype("int64"),
        "faces_read": shown["faces_read"].astype("int64"),
        "engagement": shown["engagement_sum"] / faces,
    })
    for emotion, count in zip(EMOTIONS, COUNT_COLUMNS, strict=True):
        out[f"share_{emotion}"] = shown[count] / faces
    return out.sort_values("time").reset_index(drop=True)


def regroup(buckets: pd.DataFrame, bucket_seconds: int) -> pd.DataFrame:
    """Sum query buckets into coarser ones (``bucket_seconds`` a multiple of theirs), keeping
    the minutes whose faces were mostly read apart from the others (``readable``).

    Exact, because every column is a sum over shown minutes or a count of hidden ones, and
    readability was decided per minute.
    """
    if buckets.empty:
        return buckets
    start = buckets["bucket_start"] // bucket_seconds * bucket_seconds
    out = (buckets.drop(columns="bucket_start")
           .groupby([start.rename("bucket_start"), "readable"]).sum())
    return out.reset_index()[list(buckets.columns)]


def hidden_minutes(buckets: pd.DataFrame) -> int:
    """How many minutes of the period were hidden, for having too few faces read or for being
    added to after they closed (:func:`revised_minutes`)."""
    return int(buckets["hidden_minutes"].sum()) if len(buckets) else 0


def revised_minutes(buckets: pd.DataFrame) -> int:
    """How many of the :func:`hidden_minutes` were hidden for being added to after they closed
    (``camera_minutes.revised``): two readings of them could be compared, whatever their faces."""
    return int(buckets["revised_minutes"].sum()) if len(buckets) else 0


def unread_minutes(buckets: pd.DataFrame) -> int:
    """How many shown minutes :func:`series` leaves out, each one's faces mostly not read: the
    page counts them as it counts the hidden ones, so none leaves the charts unsaid."""
    if buckets.empty:
        return 0
    return int(buckets["minutes"].where(~readable(buckets), 0).sum())


@dataclass(frozen=True)
class Unreadable:
    """Most faces of a period (or minute) could not be read: how many were, and the main reason
    for the others (one of REASONS)."""

    faces: int
    read: int
    reason: str

    @property
    def read_share(self) -> float:
        """The share of the faces that were read, as the page words it (``text.unreadable``)."""
        return self.read / self.faces


def unreadable(buckets: pd.DataFrame) -> Unreadable | None:
    """Over the buckets' ``seen_*`` counts: None when they hold no faces or most were read; else
    how many were read and the commonest reason the others were not. The counts are only those
    of the cameras that each saw a group that minute (:func:`dashboard.sql.fetch_buckets`
    decides per minute and camera): what a child's minutes, or a child's camera, could say of
    why faces were not read would describe that child, and the small-group rule's note says
    enough of them."""
    if buckets.empty:
        return None
    faces, read = int(buckets["seen_faces"].sum()), int(buckets["seen_read"].sum())
    if faces == 0 or mostly_read(faces, read):
        return None
    refused = [int(buckets[f"seen_{r}"].sum()) for r in REASONS]
    return Unreadable(faces, read, REASONS[refused.index(max(refused))])


def emotion_shares_long(frame: pd.DataFrame) -> pd.DataFrame:
    """``time, emotion, share`` rows (EMOTIONS order within each time) for a stacked chart.

    An ``edge`` column (:func:`dashboard.charts.with_steps`) is kept beside ``time``.
    """
    keep = ["time", *(["edge"] if "edge" in frame.columns else [])]
    long = frame.melt(
        id_vars=keep, value_vars=list(SHARE_COLUMNS), var_name="emotion", value_name="share"
    )
    long["emotion"] = long["emotion"].str.removeprefix("share_")
    long["order"] = long["emotion"].map({e: i for i, e in enumerate(EMOTIONS)})
    return long.sort_values(["time", "order"]).reset_index(drop=True)


def engagement_band(frame: pd.DataFrame, bucket_seconds: int,
                    points: int = BAND_POINTS) -> pd.DataFrame:
    """``time, engagement, band_low, band_high``: the rolling mean ± one standard deviation.

    The band shows how much the index moves around each point (over ``points`` neighbours), so a
    single jumpy minute is read as noise rather than as a change in the class. Neighbours are
    taken within a run of consecutive buckets (``frame`` in time order): a gap (a break, a night,
    hidden minutes) ends the run, so no band carries one lesson's engagement into the next.
    """
    run = (frame["time"].diff() != pd.Timedelta(seconds=bucket_seconds)).cumsum()
    rolling = frame["engagement"].groupby(run).rolling(points, center=True, min_periods=1)
    mean = rolling.mean().reset_index(level=0, drop=True)
    spread = rolling.std(ddof=0).reset_index(level=0, drop=True).fillna(0.0)
    return pd.DataFrame({
        "time": frame["time"],
        "engagement": frame["engagement"],
        "band_low": (mean - spread).clip(lower=0.0, upper=1.0),
        "band_high": (mean + spread).clip(lower=0.0, upper=1.0),
    })


def main_emotions(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per row holding SHARE_COLUMNS: the main expression in words and its share, empty where a
    share is missing (no faces read). Every expression with the largest share is named
    (:func:`dashboard.text.main_expression`): ``idxmax`` would silently pick the first of a tie.
    Shares of one row are counts over one number of faces, so a tie is exact equality."""
    values = frame[list(SHARE_COLUMNS)].astype("float64")
    top = values.max(axis=1)
    known = values.notna().all(axis=1)
    tied = values.eq(top, axis=0).to_numpy()
    names = [text.main_expression([e for e, t in zip(EMOTIONS, row, strict=True) if t])
             if ok else None for row, ok in zip(tied, known, strict=True)]
    return pd.Series(names, index=frame.index, dtype=object), top.where(known)


def share_texts(shares: pd.Series) -> pd.Series:
    """Each share as :func:`dashboard.text.share` words it; a missing one stays missing (an empty
    table cell, no tooltip)."""
    return shares.map(lambda v: None if pd.isna(v) else text.share(float(v))).astype(object)


@dataclass(frozen=True)
class RightNow:
    """The newest minute of a live window, as the "right now" summary tells it."""

    minute: datetime  # local start of the newest minute with any data
    hidden: bool  # that minute is hidden: fewer faces read at once than MIN_FACES_SHOWN, or...
    revised: bool = False  # ... it was added to after it closed (camera_minutes.revised)
    unread: bool = False  # it is shown by the rule, but most of its faces could not be read
    unreadable: Unreadable | None = None  # most of its faces could not be read, and why
    faces_in_view: float = 0.0
    faces_read_in_view: float = 0.0
    engagement: float = float("nan")
    emotion: str = ""  # the main expression(s) in words (main_emotions)
    emotion_share: float = 0.0


def right_now(buckets: pd.DataFrame, tz: ZoneInfo) -> RightNow | None:
    """Summary of the newest minute in minute buckets (one row a minute: a minute is readable or
    not); None when the window has no rows at all."""
    seen = buckets[(buckets["minutes"] + buckets["hidden_minutes"]) > 0]
    if seen.empty:
        return None
    newest = seen.loc[seen["bucket_start"].idxmax()]
    minute = local_times(pd.Series([newest["bucket_start"]]), tz).iloc[0].to_pydatetime()
    if not readable(seen.loc[[newest.name]]).iloc[0]:
        shown = int(newest["minutes"]) > 0
        return RightNow(minute=minute, hidden=not shown,
                        revised=not shown and int(newest["revised_minutes"]) > 0, unread=shown,
                        unreadable=unreadable(seen.loc[[newest.name]]))
    shown = series(seen.loc[[newest.name]], tz)
    emotion, share = main_emotions(shown)
    row = shown.iloc[0]
    return RightNow(
        minute=minute, hidden=False, faces_in_view=float(row["faces_in_view"]),
        faces_read_in_view=float(row["faces_read_in_view"]),
        engagement=float(row["engagement"]), emotion=str(emotion.iloc[0]),
        emotion_share=float(share.iloc[0]),
    )


def _local_groups(buckets: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    local = local_times(buckets["bucket_start"], tz)
    return buckets.assign(
        day=local.dt.date, iso_dow=local.dt.day_of_week + 1, hour=local.dt.hour,
    )


# what a day row or heatmap cell sums over its charted minutes (those :func:`series` draws)
_CHARTED_SUMS: tuple[str, ...] = ("faces_read", "faces_in_view", "faces_read_in_view",
                                  "engagement_sum", *COUNT_COLUMNS)


def summarise(buckets: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of ``by``: its numbers over the minutes the charts draw, and how many were left
    out and why.

    ``minutes`` counts the charted minutes (shown, their faces mostly read, as the query judged
    each minute), and faces in view, engagement and shares are theirs alone, so a day or an hour
    says what the charts and the CSV say of the same minutes; ``unread_minutes`` (shown, but
    most of their faces not read) and ``hidden_minutes`` are only counted. Summing every shown
    minute instead would let one minute of many unreadable faces swing a day's faces in view and
    bring back the mix of the few faces read that the charts leave out.
    """
    charted = readable(buckets)
    sums = buckets[by].assign(
        minutes=buckets["minutes"].where(charted, 0),
        unread_minutes=buckets["minutes"].where(~charted, 0),
        hidden_minutes=buckets["hidden_minutes"],
        **{c: buckets[c].where(charted, 0) for c in _CHARTED_SUMS},
    ).groupby(by).sum()
    minutes = sums["minutes"].where(sums["minutes"] > 0)
    faces = sums["faces_read"].where((sums["faces_read"] > 0) & minutes.notna())
    faces = faces.astype("float64")
    out = pd.DataFrame(index=sums.index)
    for count in ("minutes", "unread_minutes", "hidden_minutes"):
        out[count] = sums[count].astype("int64")
    out["faces_in_view"] = sums["faces_in_view"] / minutes
    out["faces_read_in_view"] = sums["faces_read_in_view"] / minutes
    out["engagement"] = sums["engagement_sum"] / faces
    for emotion, count in zip(EMOTIONS, COUNT_COLUMNS, strict=True):
        out[f"share_{emotion}"] = sums[count] / faces
    return out


def daily_summary(buckets: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    """One row per local day that has any minutes (charted, unread or hidden), oldest first.

    Columns: day, minutes (charted: those :func:`series` draws), unread_minutes,
    hidden_minutes, faces_in_view, engagement, main_emotion, main_share; the last four are over
    the charted minutes only (:func:`summarise`), and empty on a day with none. A day whose
    faces were mostly not read as a whole (the faces of its shown minutes, charted or not, as a
    lesson's row counts them: ``lesson_summaries``) names no main emotion nor engagement, as a
    lesson's row does (:func:`dashboard.lesson_frames.main_emotions`): the few faces read among
    many are not the day, and the same minutes were "happy 100%" in the day's row and no mix in
    the lesson's.
    """
    columns = ["day", "minutes", "unread_minutes", "hidden_minutes", "faces_in_view",
               "engagement", "main_emotion", "main_share"]
    if buckets.empty:
        return pd.DataFrame(columns=columns)
    groups = _local_groups(buckets, tz)
    days = summarise(groups, ["day"]).reset_index()
    shown = groups.groupby("day")[["faces", "faces_read"]].sum().reindex(days["day"])
    read = ((shown["faces"] == 0) | mostly_read(shown["faces"], shown["faces_read"])).to_numpy()
    emotion, share = main_emotions(days)
    days["main_emotion"], days["main_share"] = emotion.where(read), share.where(read)
    days["engagement"] = days["engagement"].where(read)
    return days[columns]


def hour_of_week(buckets: pd.DataFrame, tz: ZoneInfo) -> pd.DataFrame:
    """``iso_dow (1 = Monday), weekday, hour, minutes, faces_in_view, engagement``.

    Only (day, hour) cells with charted minutes appear, and their numbers are those minutes'
    (:func:`summarise`), as the charts'; the cells are the classroom's local hours.
    """
    columns = ["iso_dow", "weekday", "hour", "minutes", "faces_in_view", "engagement"]
    charted = buckets[readable(buckets)]
    if charted.empty:
        return pd.DataFrame(columns=columns)
    cells = summarise(_local_groups(charted, tz), ["iso_dow", "hour"]).reset_index()
    cells["weekday"] = cells["iso_dow"].map(lambda d: WEEKDAYS[int(d) - 1])
    return cells[columns]


def _offset_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def iso_times(times: pd.Series) -> pd.Series:
    """Aware timestamps as ISO 8601 text (``2025-03-03T08:00:00+01:00``).

    Formats the naive wall clock and appends each row's UTC offset: formatting aware timestamps
    directly is about twenty times slower, which shows on a year of rows.
    """
    wall = times.dt.tz_localize(None)
    offsets = (wall - times.dt.tz_convert("UTC").dt.tz_localize(None)).dt.total_seconds() // 60
    offsets = offsets.astype("int64")
    suffix = offsets.map({int(m): _offset_text(int(m)) for m in offsets.unique()})
    return wall.dt.strftime("%Y-%m-%dT%H:%M:%S") + suffix


def csv_frame(frame: pd.DataFrame, classroom_id: str, camera_id: str | None) -> pd.DataFrame:
    """The shown series as the CSV download holds it: ISO local and UTC times, whose numbers they
    are (the classroom, and the camera, empty for the whole classroom: a saved file of the front
    camera's minutes, the front rows, must not be read later as the class's), then the numbers.
    Ids are letters, digits, '.', '_' and '-' (:func:`classpulse.wire.check_id`), so no cell
    starts as a spreadsheet formula does."""
    out = frame[list(SERIES_COLUMNS)].copy()
    out.insert(1, "time_utc", iso_times(frame["time"].dt.tz_convert("UTC")))
    out.insert(2, "classroom_id", classroom_id)
    out.insert(3, "camera_id", camera_id or "")
    out["time"] = iso_times(frame["time"])
    return out


def csv_bytes(frame: pd.DataFrame, classroom_id: str, camera_id: str | None) -> bytes:
    """UTF-8 CSV of :func:`csv_frame`, numbers to four decimals."""
    return csv_frame(frame, classroom_id, camera_id).to_csv(
        index=False, float_format="%.4f").encode("utf-8")
