"""Bucket frames to page numbers: local times, face-weighted means, summaries, the CSV."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from classpulse.emotions import EMOTIONS
from dashboard import lesson_states, text, transform
from dashboard.sql import BUCKET_COLUMNS, mostly_read

BERLIN = ZoneInfo("Europe/Berlin")


def bucket(start: datetime, minutes: int, hidden: int, counts: list[int], engagement_sum: float,
           faces_in_view: float = 0.0, refused: tuple[int, int, int] = (0, 0, 0),
           read_in_view: float | None = None, told: bool = True) -> dict[str, object]:
    """A bucket whose read faces are ``counts`` and ``refused`` more faces (small, turned,
    uncertain) were not read; faces and refusals alike seen in its shown minutes, and counted in
    its ``seen_*`` columns when ``told`` (the query found one camera seeing a group then). Its
    shown minutes are ``readable`` (the query's per-minute test) when most of those faces were
    read: each a like minute, as the query's one row of a minute is."""
    read = sum(counts)
    row: dict[str, object] = {
        "bucket_start": int(start.timestamp()),
        "readable": int(minutes > 0 and mostly_read(read + sum(refused), read)),
        "minutes": minutes, "hidden_minutes": hidden, "revised_minutes": 0,
        "faces": read + sum(refused), "faces_read": read, "faces_in_view": faces_in_view,
        "faces_read_in_view": faces_in_view if read_in_view is None else read_in_view,
        "engagement_sum": engagement_sum, "seen_faces": told * (read + sum(refused)),
        "seen_read": told * read, "seen_small": told * refused[0],
        "seen_turned": told * refused[1], "seen_uncertain": told * refused[2],
    }
    row.update({f"n_{e}": n for e, n in zip(EMOTIONS, counts, strict=True)})
    return row


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(BUCKET_COLUMNS))


UTC = timezone.utc
# 22:59 and 23:00 UTC on 3 March are 23:59 on Monday and 00:00 on Tuesday in Berlin
LATE = datetime(2025, 3, 3, 22, 59, tzinfo=UTC)
MIDNIGHT = datetime(2025, 3, 3, 23, 0, tzinfo=UTC)
BUCKETS = frame(
    bucket(LATE, 1, 0, [0, 0, 0, 30, 10, 0, 60], 54.0, faces_in_view=5.0),
    bucket(MIDNIGHT, 0, 1, [0] * 7, 0.0),
    bucket(datetime(2025, 3, 3, 23, 1, tzinfo=UTC), 1, 0, [10, 0, 0, 0, 0, 0, 90], 80.0, 10.0),
)


def test_series_keeps_shown_buckets_in_local_time_with_face_weighted_means() -> None:
    out = transform.series(BUCKETS, BERLIN)
    assert list(out.columns) == list(transform.SERIES_COLUMNS)
    local = [t.strftime("%a %H:%M %z") for t in out["time"]]
    assert local == ["Mon 23:59 +0100", "Tue 00:01 +0100"]
    assert out["engagement"].tolist() == pytest.approx([0.54, 0.80])
    assert out["faces_in_view"].tolist() == pytest.approx([5.0, 10.0])
    assert out["share_happy"].tolist() == pytest.approx([0.3, 0.0])
    assert out["share_neutral"].tolist() == pytest.approx([0.6, 0.9])
    shares = out[list(transform.SHARE_COLUMNS)].sum(axis=1)
    assert shares.tolist() == pytest.approx([1.0, 1.0])
    assert transform.hidden_minutes(BUCKETS) == 1


def test_emotion_shares_long_is_in_emotions_order() -> None:
    long = transform.emotion_shares_long(transform.series(BUCKETS, BERLIN))
    assert long["emotion"].tolist()[:7] == list(EMOTIONS)
    assert len(long) == 14
    assert long.groupby("time")["share"].sum().tolist() == pytest.approx([1.0, 1.0])


def test_engagement_band_is_the_rolling_mean_plus_minus_one_sd_within_zero_one() -> None:
    times = pd.date_range("2025-03-03 08:00", periods=5, freq="min", tz="Europe/Berlin")
    data = pd.DataFrame({"time": times, "engagement": [0.2, 0.4, 0.6, 0.95, 0.95]})
    band = transform.engagement_band(data, 60, points=3)
    # centred window of 3 at the second point: 0.2, 0.4, 0.6 -> mean 0.4, sd sqrt(0.08/3)
    sd = np.sqrt(((0.2 - 0.4) ** 2 + 0 + (0.6 - 0.4) ** 2) / 3)
    assert band.loc[1, "band_low"] == pytest.approx(0.4 - sd)
    assert band.loc[1, "band_high"] == pytest.approx(0.4 + sd)
    assert (band["band_high"] <= 1.0).all() and (band["band_low"] >= 0.0).all()
    assert band["engagement"].tolist() == data["engagement"].tolist()


def test_the_engagement_band_does_not_reach_across_a_gap() -> None:
    """The last minute of one lesson and the first of the next day's are not neighbours."""
    times = pd.DatetimeIndex([*pd.date_range("2025-03-03 08:00", periods=2, freq="min"),
                              *pd.date_range("2025-03-04 08:00", periods=2, freq="min")]
                             ).tz_localize("Europe/Berlin")
    data = pd.DataFrame({"time": times, "engagement": [0.2, 0.2, 0.8, 0.8]})
    band = transform.engagement_band(data, 60, points=3)
    assert band["band_low"].tolist() == pytest.approx([0.2, 0.2, 0.8, 0.8])
    assert band["band_high"].tolist() == pytest.approx([0.2, 0.2, 0.8, 0.8])


def test_right_now_reports_the_newest_minute_or_that_it_is_hidden() -> None:
    now = transform.right_now(BUCKETS, BERLIN)
    assert now is not None and not now.hidden
    assert now.minute.strftime("%H:%M") == "00:01"
    assert now.emotion == "neutral" and now.emotion_share == pytest.approx(0.9)
    assert now.engagement == pytest.approx(0.8) and now.faces_in_view == pytest.approx(10.0)
    hidden_last = transform.right_now(BUCKETS.iloc[:2], BERLIN)
    assert hidden_last is not None and hidden_last.hidden
    assert hidden_last.minute.strftime("%H:%M") == "00:00"
    assert transform.right_now(frame(), BERLIN) is None


def test_daily_summary_cuts_days_at_local_midnight() -> None:
    days = transform.daily_summary(BUCKETS, BERLIN)
    assert days["day"].tolist() == [date(2025, 3, 3), date(2025, 3, 4)]
    assert days["minutes"].tolist() == [1, 1]
    assert days["hidden_minutes"].tolist() == [0, 1]
    assert days["engagement"].tolist() == pytest.approx([0.54, 0.80])
    assert days["main_emotion"].tolist() == ["neutral", "neutral"]
    assert days["main_share"].tolist() == pytest.approx([0.6, 0.9])


def test_a_day_of_hidden_minutes_only_has_no_means() -> None:
    days = transform.daily_summary(BUCKETS.iloc[[1]], BERLIN)
    assert days["hidden_minutes"].tolist() == [1]
    assert days[["engagement", "main_emotion"]].isna().all(axis=None)


def test_hour_of_week_uses_local_weekday_and_hour() -> None:
    cells = transform.hour_of_week(BUCKETS, BERLIN)
    assert cells[["weekday", "hour", "minutes"]].values.tolist() == [["Mon", 23, 1], ["Tue", 0, 1]]
    assert cells["iso_dow"].tolist() == [1, 2]
    assert cells["engagement"].tolist() == pytest.approx([0.54, 0.80])


def test_csv_has_local_and_utc_times_and_the_charted_numbers() -> None:
    shown = transform.series(BUCKETS, BERLIN)
    table = pd.read_csv(io.BytesIO(transform.csv_bytes(shown, "7A", "front")))
    assert list(table.columns) == ["time", "time_utc", "classroom_id", "camera_id",
                                   *list(transform.SERIES_COLUMNS)[1:]]
    assert table[["classroom_id", "camera_id"]].values.tolist() == [["7A", "front"]] * 2
    assert table["time"].tolist() == ["2025-03-03T23:59:00+01:00", "2025-03-04T00:01:00+01:00"]
    assert table["time_utc"].tolist() == ["2025-03-03T22:59:00+00:00", "2025-03-03T23:01:00+00:00"]
    assert table["engagement"].tolist() == pytest.approx([0.54, 0.80])
    assert table["face_detections"].tolist() == [100, 100]
    assert table["share_angry"].tolist() == pytest.approx([0.0, 0.1])


def test_iso_times_match_isoformat_across_zones_and_dst() -> None:
    instants = pd.Series(pd.to_datetime(
        ["2025-03-30 00:59", "2025-03-30 01:00", "2025-11-02 05:30", "2025-11-02 06:30"], utc=True))
    for zone in ("Europe/Berlin", "America/New_York", "Asia/Kathmandu", "UTC"):
        local = instants.dt.tz_convert(zone)
        assert transform.iso_times(local).tolist() == [t.isoformat() for t in local]


def test_mostly_unread_faces_draw_no_mix_and_say_why() -> None:
    """Three shown minutes: one read well, one with 2 of 10 faces read (too small), one hidden
    whose faces were all bowed. The mix is drawn for the first only; over the whole window most
    faces were not read, mostly for being small."""
    buckets = frame(
        bucket(LATE, 1, 0, [0, 0, 0, 3, 0, 0, 5], 6.0, 4.0, refused=(1, 0, 1)),
        bucket(MIDNIGHT, 1, 0, [0, 0, 0, 0, 2, 0, 0], 0.6, 10.0, refused=(8, 0, 0),
               read_in_view=3.0),
        bucket(datetime(2025, 3, 3, 23, 1, tzinfo=UTC), 0, 1, [0] * 7, 0.0, refused=(0, 6, 0)),
    )
    out = transform.series(buckets, BERLIN)
    assert [t.strftime("%H:%M") for t in out["time"]] == ["23:59"]
    assert out["share_neutral"].tolist() == [5 / 8] and out["faces_read"].tolist() == [8]
    why = transform.unreadable(buckets)
    assert why == transform.Unreadable(faces=26, read=10, reason="small")
    assert why.read_share == pytest.approx(10 / 26)
    assert transform.unreadable(buckets.iloc[:1]) is None  # 8 of 10 read
    now = transform.right_now(buckets, BERLIN)
    assert now is not None and now.hidden
    assert now.unreadable == transform.Unreadable(faces=6, read=0, reason="turned")


def test_why_faces_were_not_read_is_not_told_of_a_small_group() -> None:
    """The newest minute saw one child, bowed over the desk: telling that most of its faces were
    turned away or bowed would describe that child. It is hidden like any small group; a period
    of such minutes says nothing of why either."""
    child = bucket(LATE, 0, 1, [0] * 7, 0.0, refused=(0, 60, 0), told=False)
    now = transform.right_now(frame(child), BERLIN)
    assert now is not None and now.hidden and now.unreadable is None
    assert transform.unreadable(frame(child)) is None


def test_a_lesson_whose_faces_were_mostly_not_read_names_no_main_emotion() -> None:
    from dashboard import lesson_frames

    now = datetime(2025, 3, 4, tzinfo=UTC)
    lessons = pd.DataFrame({
        "minutes": [40, 40], "faces": [4000, 4000], "faces_read": [2500, 1500],
        **{f"share_{e}": [0.5 if e == "neutral" else 0.5 / 6] * 2 for e in EMOTIONS},
        "starts_at": [pd.Timestamp("2025-03-03 08:00", tz="UTC")] * 2, "hidden_minutes": [0, 0],
        "unread_minutes": [0, 0],
    })
    emotion, share = lesson_frames.main_emotions(lessons)
    assert emotion.tolist()[0] == "neutral" and pd.isna(emotion.iloc[1])
    assert share.iloc[0] == pytest.approx(0.5) and pd.isna(share.iloc[1])
    assert [lesson_frames.status(row, now) for _, row in lessons.iterrows()] == [
        "", lesson_states.UNREADABLE]


def test_a_mostly_unread_lesson_shows_no_engagement_nor_a_trend_point() -> None:
    """Its engagement rests on the few faces read, as its main emotion would: the week's table
    leaves it empty, and the title's trend (and the change from the lesson before) skips it."""
    from dashboard import lesson_frames

    starts = pd.to_datetime(["2025-03-03 08:00", "2025-03-04 08:00", "2025-03-05 08:00"],
                            utc=True)
    lessons = pd.DataFrame({
        "lesson_id": [1, 2, 3], "title": ["Maths"] * 3, "starts_at": starts,
        "ends_at": starts + pd.Timedelta(minutes=45), "minutes": [40, 40, 40],
        "hidden_minutes": [0, 0, 0], "unread_minutes": [0, 0, 0], "faces": [4000] * 3,
        "faces_read": [2500, 1500, 3000],
        "engagement": [0.5, 0.9, 0.6], "faces_in_view": [20.0] * 3,
        **{f"share_{e}": [0.5 if e == "neutral" else 0.5 / 6] * 3 for e in EMOTIONS},
        "cameras": [("cam",)] * 3, "cameras_part": [()] * 3, "shared_minutes": [0] * 3,
    })
    now = datetime(2025, 3, 6, tzinfo=UTC)
    rows = lesson_frames.table(lessons, BERLIN, now)
    assert rows["engagement"].tolist()[::2] == [0.5, 0.6] and pd.isna(rows["engagement"][1])
    assert rows["faces_in_view"].tolist() == [20.0] * 3  # people in view, read or not
    trend = lesson_frames.title_trend(lessons, 3, BERLIN, now)
    assert trend["engagement"].tolist() == [0.5, 0.6]
    change, before = lesson_frames.change_from_previous(trend)
    assert change == pytest.approx(0.1) and before.day == 3
    assert lesson_frames.change_from_previous(
        lesson_frames.title_trend(lessons, 2, BERLIN, now)) is None


def test_a_lesson_under_way_is_not_called_missing() -> None:
    """Before its first minute is counted, a lesson under way has no data yet, which is not the
    "no camera reported, check the cameras" of a lesson that ended without any."""
    from dashboard import lesson_frames

    now = datetime(2025, 3, 3, 8, 0, 30, tzinfo=UTC)
    starts = pd.to_datetime(["2025-03-03 08:10", "2025-03-03 08:00", "2025-03-03 07:00"], utc=True)
    lessons = pd.DataFrame({"starts_at": starts, "ends_at": starts + pd.Timedelta(minutes=45),
                            "minutes": [0, 0, 0], "hidden_minutes": [0, 0, 0],
                            "unread_minutes": [0, 0, 0]})
    assert [lesson_frames.status(row, now) for _, row in lessons.iterrows()] == [
        lesson_states.NOT_YET, lesson_states.UNDER_WAY, lesson_states.NO_DATA]
    assert [lesson_frames.under_way(row, now) for _, row in lessons.iterrows()] == [
        False, True, False]



def test_a_short_lesson_that_just_ended_is_not_called_missing() -> None:
    """A lesson shorter than the closing delay has no closed minute when it ends: until its last
    minute closes it is still to come, not "no camera reported"."""
    from dashboard import lesson_frames
    from dashboard.periods import MINUTE_CLOSES_AFTER

    starts = pd.to_datetime(["2025-03-03 08:00"], utc=True)
    lessons = pd.DataFrame({"starts_at": starts, "ends_at": starts + pd.Timedelta(minutes=2),
                            "minutes": [0], "hidden_minutes": [0], "unread_minutes": [0]})
    closes = datetime(2025, 3, 3, 8, 2, tzinfo=UTC) + MINUTE_CLOSES_AFTER
    row = lessons.iloc[0]
    assert lesson_frames.last_minute_closes(row) == closes
    assert lesson_frames.status(row, closes - timedelta(seconds=1)) == lesson_states.CLOSING
    assert lesson_frames.status(row, closes) == lesson_states.NO_DATA


def test_a_shown_newest_minute_mostly_unread_is_not_called_hidden() -> None:
    """One frame read three faces (shown by the rule) while nine frames each held one refused
    face: fewer than three faces in view on average, so nothing is said of why; but the minute is
    shown, so it is not "hidden for fewer than 3 faces read" either."""
    minute = bucket(LATE, 1, 0, [0, 0, 0, 0, 0, 0, 3], 2.7, faces_in_view=1.2,
                    refused=(0, 9, 0), read_in_view=3.0, told=False)
    now = transform.right_now(frame(minute), BERLIN)
    assert now is not None and now.unread and not now.hidden and now.unreadable is None


def test_empty_minutes_do_not_silence_why_faces_were_not_read() -> None:
    """A camera streaming all week: ten pupils too small to read in the lesson's minutes, nobody
    the rest of the time. The minutes without faces do not water down the ten."""
    lesson = bucket(LATE, 0, 45, [0] * 7, 0.0, refused=(450, 0, 0))
    night = bucket(MIDNIGHT, 0, 600, [0] * 7, 0.0)
    why = transform.unreadable(frame(lesson, night))
    assert why == transform.Unreadable(faces=450, read=0, reason="small")


def test_a_tie_names_every_main_expression() -> None:
    """As many faces read angry as neutral: neither is "the" main expression. The newest minute,
    a day and a lesson all say so, with the share each has."""
    from dashboard import lesson_frames

    tie = frame(bucket(LATE, 1, 0, [40, 0, 0, 20, 0, 0, 40], 50.0, faces_in_view=5.0))
    now = transform.right_now(tie, BERLIN)
    assert now is not None
    assert (now.emotion, now.emotion_share) == ("angry and neutral (tied)", pytest.approx(0.4))
    days = transform.daily_summary(tie, BERLIN)
    assert days["main_emotion"].tolist() == ["angry and neutral (tied)"]
    assert days["main_share"].tolist() == pytest.approx([0.4])
    lessons = pd.DataFrame({"minutes": [40, 40], "faces": [100, 100], "faces_read": [100, 100],
                            **{f"share_{e}": [s, t] for e, s, t in zip(
                                EMOTIONS, [0.3, 0, 0, 0.3, 0, 0.1, 0.3], [0.2, 0, 0, 0.5, 0, 0,
                                                                          0.3], strict=True)}})
    emotion, share = lesson_frames.main_emotions(lessons)
    assert emotion.tolist() == ["angry, happy and neutral (tied)", "happy"]
    assert share.tolist() == pytest.approx([0.3, 0.5])


def test_a_lesson_with_too_few_shown_minutes_is_not_compared() -> None:
    """A lesson of nine shown minutes is a few moments, not a lesson, though the cameras ran
    throughout (its other minutes hidden): it is neither plotted in its title's trend nor
    compared with the lesson before; the lessons left out are listed."""
    from dashboard import lesson_frames

    few = lesson_frames.MIN_TREND_MINUTES - 1
    starts = pd.to_datetime(["2025-03-03 08:00", "2025-03-04 08:00", "2025-03-05 08:00"],
                            utc=True)
    history = pd.DataFrame({
        "lesson_id": [1, 2, 3], "starts_at": starts,
        "ends_at": starts + pd.Timedelta(minutes=45), "minutes": [40, few, 40],
        "hidden_minutes": [0, 45 - few, 0], "unread_minutes": [0, 0, 0],
        "faces": [4000, 100, 4000],
        "faces_read": [3000, 100, 1000], "engagement": [0.5, 0.9, 0.6],
        "cameras": [("cam",)] * 3, "cameras_part": [()] * 3, "shared_minutes": [0] * 3,
    })
    now = datetime(2025, 3, 6, tzinfo=UTC)
    trend = lesson_frames.title_trend(history, 2, BERLIN, now)
    assert trend["engagement"].tolist() == [0.5] and not trend["current"].any()
    assert lesson_frames.change_from_previous(trend) is None
    left, cameras = lesson_frames.left_out(history, 2, BERLIN, now)
    assert cameras == ("cam",)
    assert text.trend_left_out(left.itertuples(index=False, name=None), cameras, few + 1,
                               80) == (
        "Left out of the trend, for being under way, having data or charted minutes for under "
        f"80% of their minutes, fewer than {few + 1} minutes charted, most faces not read, a "
        "camera on for part of the lesson, a room shared with another lesson, or other cameras: "
        "this lesson "
        f"({few} minutes charted), Wed 05 Mar (most faces not read).")
