"""The dashboard's SQL: plain functions from an engine and parameters to DataFrames.

Every value (classroom, camera, instants, bucket size) travels as a bound parameter; the only text
chosen in Python comes from fixed sets (which view, the dialect's epoch expression). These
functions do not cache: :mod:`dashboard.queries` wraps them for Streamlit, and the benchmark times
them bare.

Small groups are hidden by the database's one rule, not here: the ``camera_minutes`` view decides
per camera and minute whether it is ``shown`` (its faces READ per frame with read faces, the
faces whose expression the consumer's readability gate let it read, reach the ``small_group_rule``
threshold, MIN_FACES_SHOWN) and ``class_minutes`` shows a class minute when one of its cameras'
minutes is shown, made of the shown cameras' minutes only; docs/sql.md explains why faces per
frame, not the raw ``faces`` count, tells a class from a child. Besides the sums over shown
minutes, a bucket sums faces and the gate's counts (``seen_*``; of a shown class minute, its shown
cameras') so the page can say why faces could not be read (too small, turned away, uncertain), but
only over the minutes in which one camera saw at least the rule's number of faces at once
(:func:`_told`, the one place that test is made): why one child's face was not read would describe
that child. The test is made per minute, in SQL, so one crowded minute does not let a period's
single-child minutes in, and per camera: two cameras that each see the same two pupils are two
people, not four. It takes the threshold from ``small_group_rule`` in the same statement that
reads ``shown``, so both follow one rule at one moment. The page reads one camera from
``camera_minutes`` and a whole classroom from ``class_minutes``. A bucket's emotion counts and
engagement come only from shown minutes, and the minutes left out are counted so the page can say
so. Buckets are whole multiples of ``bucket`` seconds since the epoch, returned as epoch seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.types import Integer

from classpulse.db.base import UTCDateTime
from classpulse.db.rule import load_min_faces
from classpulse.db.weights import StoredWeights, load_weights
from classpulse.emotions import EMOTIONS

COUNT_COLUMNS: tuple[str, ...] = tuple(f"n_{e}" for e in EMOTIONS)
# faces and the readability gate's counts of the minutes, shown or hidden, in which one camera saw
# a group (:func:`_told`)
SEEN_COLUMNS: tuple[str, ...] = ("seen_faces", "seen_read", "seen_small", "seen_turned",
                                 "seen_uncertain")
BUCKET_COLUMNS: tuple[str, ...] = (
    "bucket_start", "minutes", "hidden_minutes", "faces", "faces_read", "faces_in_view",
    "faces_read_in_view", "engagement_sum", *COUNT_COLUMNS, *SEEN_COLUMNS,
)
_FLOAT_COLUMNS = ("faces_in_view", "faces_read_in_view", "engagement_sum")
# the epoch seconds of a UTC minute, per dialect (SQLite keeps the UTC wall clock as text)
_EPOCH = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM minute_start) AS BIGINT)",
    "sqlite": "CAST(strftime('%s', minute_start) AS INTEGER)",
}
# rows written this close before the newest minute count as "the last write"
_FRESHNESS_LOOKBACK = timedelta(minutes=5)


def _epoch_sql(engine: Engine) -> str:
    try:
        return _EPOCH[engine.dialect.name]
    except KeyError:
        raise NotImplementedError(
            f"the dashboard supports PostgreSQL and SQLite, not {engine.dialect.name}"
        ) from None


def _shown(column: str) -> str:
    return f"SUM(CASE WHEN shown THEN {column} ELSE 0 END)"


def _told(camera: bool) -> str:
    """The condition under which a minute's faces may say why they were not read: one camera saw
    at least the small-group rule's number of faces at once. One camera's view is a camera
    minute's own faces in view, a class minute's ``largest_view`` (the most of one camera), never
    the class minute's ``faces_in_view``: a hidden class minute sums that over all its cameras,
    which counts a pupil seen by two cameras twice. NULL (no face seen) is not told."""
    largest_view = "faces_in_view" if camera else "largest_view"
    return f"{largest_view} >= (SELECT r.min_faces_shown FROM small_group_rule AS r)"


# what each of SEEN_COLUMNS sums, over the minutes :func:`_told` lets speak
_SEEN_SOURCES = ("faces", "faces_read", "refused_small", "refused_turned", "refused_uncertain")


def _bucket_sql(engine: Engine, camera: bool) -> str:
    source = "camera_minutes" if camera else "class_minutes"
    camera_filter = "AND camera_id = :camera_id" if camera else ""
    summed = ("faces", "faces_read", "engagement_sum", *COUNT_COLUMNS, "faces_in_view",
              "faces_read_in_view")
    per_bucket = ",\n  ".join(
        [f"{_shown(c)} AS {c}" for c in summed]
        + [f"SUM(CASE WHEN {_told(camera)} THEN {c} ELSE 0 END) AS {name}"
           for c, name in zip(_SEEN_SOURCES, SEEN_COLUMNS, strict=True)])
    return f"""
SELECT ({_epoch_sql(engine)} / :bucket) * :bucket AS bucket_start,
  {_shown("1")} AS minutes,
  SUM(CASE WHEN shown THEN 0 ELSE 1 END) AS hidden_minutes,
  {per_bucket}
FROM {source}
WHERE classroom_id = :classroom_id {camera_filter}
  AND minute_start >= :start AND minute_start < :end
GROUP BY 1
ORDER BY 1"""


def fetch_buckets(
    engine: Engine,
    classroom_id: str,
    camera_id: str | None,
    start: datetime,
    end: datetime,
    bucket_seconds: int,
) -> pd.DataFrame:
    """Per bucket: shown minutes, hidden minutes, and sums over the shown minutes only.

    ``camera_id`` None means the whole classroom (``class_minutes``: its cameras summed per
    minute); a camera id reads that camera's own minutes (``camera_minutes``). ``faces_in_view``
    and ``faces_read_in_view`` are summed over the bucket's shown minutes (divide by ``minutes``
    for the mean); the ``seen_*`` columns over its minutes, shown or hidden, in which one camera
    saw at least the rule's number of faces at once (:func:`_told`).
    """
    stmt = text(_bucket_sql(engine, camera_id is not None)).bindparams(
        bindparam("start", type_=UTCDateTime()),
        bindparam("end", type_=UTCDateTime()),
        bindparam("bucket", type_=Integer()),
    )
    params: dict[str, object] = {
        "classroom_id": classroom_id, "start": start, "end": end, "bucket": int(bucket_seconds),
    }
    if camera_id is not None:
        params["camera_id"] = camera_id
    with engine.connect() as conn:
        result = conn.execute(stmt, params)
        frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    frame = frame[list(BUCKET_COLUMNS)]
    ints = [c for c in BUCKET_COLUMNS if c not in _FLOAT_COLUMNS]
    frame[ints] = frame[ints].astype("int64")
    frame[list(_FLOAT_COLUMNS)] = frame[list(_FLOAT_COLUMNS)].astype("float64")
    return frame


def fetch_min_faces(engine: Engine) -> int:
    """The small-group rule's threshold the database applies, for the page to say it."""
    with engine.connect() as conn:
        return load_min_faces(conn)


def fetch_engagement_weights(engine: Engine) -> StoredWeights:
    """The weights the consumers score engagement with, for the page to name them."""
    with engine.connect() as conn:
        return load_weights(conn)


def fetch_classrooms(engine: Engine) -> pd.DataFrame:
    """All classrooms: ``id``, ``name``, ``timezone``, by name."""
    with engine.connect() as conn:
        stmt = text("SELECT id, name, timezone FROM classrooms ORDER BY name, id")
        rows = conn.execute(stmt).all()
    return pd.DataFrame(rows, columns=["id", "name", "timezone"])


def fetch_cameras(engine: Engine, classroom_id: str) -> pd.DataFrame:
    """The classroom's cameras: ``id``, ``name``, by name."""
    stmt = text("SELECT id, name FROM cameras WHERE classroom_id = :classroom_id ORDER BY name, id")
    with engine.connect() as conn:
        rows = conn.execute(stmt, {"classroom_id": classroom_id}).all()
    return pd.DataFrame(rows, columns=["id", "name"])


def fetch_last_write(
    engine: Engine, classroom_id: str, camera_id: str | None
) -> tuple[datetime | None, datetime | None]:
    """(newest closed minute, when rows from shortly before it on were last written), both UTC;
    (None, None) while no minute has closed.

    The newest minute is the newest the views hold (``camera_minutes`` holds closed minutes
    only), the one the page tells a teacher to choose a period around: the minute still
    filling up, or one a camera with a wrong clock dates in the future, is in no period the page
    can show. The write time reads ``emotion_minutes`` from a little before it on, the minute
    under way included: a consumer writing it is running. Two index-backed steps instead of
    ``max(updated_at)`` over a year of rows: the newest minute comes from the (classroom, minute)
    index, then only the last few minutes' rows are read.
    """
    camera_filter = "AND camera_id = :camera_id" if camera_id is not None else ""
    params: dict[str, object] = {"classroom_id": classroom_id}
    if camera_id is not None:
        params["camera_id"] = camera_id
    newest = text(
        f"SELECT MAX(minute_start) AS newest FROM camera_minutes "
        f"WHERE classroom_id = :classroom_id {camera_filter}"
    ).columns(newest=UTCDateTime())
    written = text(
        f"SELECT MAX(updated_at) AS written FROM emotion_minutes "
        f"WHERE classroom_id = :classroom_id {camera_filter} AND minute_start >= :since"
    ).bindparams(bindparam("since", type_=UTCDateTime())).columns(written=UTCDateTime())
    with engine.connect() as conn:
        last_minute = conn.execute(newest, params).scalar()
        if last_minute is None:
            return None, None
        last_write = conn.execute(
            written, {**params, "since": last_minute - _FRESHNESS_LOOKBACK}
        ).scalar()
    return last_minute, last_write
