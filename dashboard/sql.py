"""The dashboard's SQL: plain functions from an engine and parameters to DataFrames.

Every value (classroom, camera, instants, bucket size) travels as a bound parameter; the only text
chosen in Python comes from fixed sets (which view, the dialect's epoch expression). These
functions do not cache: :mod:`dashboard.queries` wraps them for Streamlit, and the benchmark times
them bare.

Small groups are hidden by the database's one rule, not here: the ``camera_minutes`` view decides
per camera and minute whether it is ``shown`` (its faces READ per frame with read faces, the
faces whose expression the consumer's readability gate let it read, reach the ``small_group_rule``
threshold, MIN_FACES_SHOWN, and it was not added to after it closed: ``revised``) and
``class_minutes`` shows a class minute when one of its cameras' minutes is shown, made of the
shown cameras' minutes only; docs/sql.md explains why faces per frame, not the raw ``faces``
count, tells a class from a child. Besides the sums over shown minutes, a bucket sums faces and
the gate's counts (``seen_*``) so the page can say why faces could not be read (too small, turned
away, uncertain), but only those of the cameras that each saw at least the rule's number of faces
at once that minute: why one child's face was not read would describe that child. The views make
that test too, beside ``shown`` (``camera_minutes.told``, summed per class minute in
``class_minutes.told_<count>``; :func:`_told_sums`), per minute and per camera: one crowded minute
does not let a period's single-child minutes in; two cameras that each see the same two pupils are
two people, not four; and a class minute adds up the counts of its told cameras only (of the
cameras it is made of: its shown ones when it is shown), never those of a camera that saw one
child, or the class view minus another camera's would tell what that child's camera alone may
not. Both follow the threshold in ``small_group_rule`` as the statement reads it, one rule at one
moment. The page reads one camera from ``camera_minutes`` and a whole classroom from
``class_minutes``.

A bucket's emotion counts and engagement come only from shown minutes, and the minutes left out are
counted so the page can say so, those hidden for being added to after they closed (``revised``;
a hidden class minute's looked up in its camera minutes, :func:`_revised`) apart from those with
too few faces read. Whether a shown minute's faces were mostly read
(:data:`MOSTLY_READ`) is decided per minute here too, and a bucket comes back as up to two rows,
``readable`` 1 (its shown minutes whose faces were mostly read: what the charts draw) and 0 (the
rest: hidden minutes, and shown ones mostly not read), so a point of several minutes holds exactly
the minutes that pass. Buckets are whole multiples of ``bucket`` seconds since the epoch, returned
as epoch seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
from sqlalchemy import Engine, TextClause, bindparam, text
from sqlalchemy.types import Float, Integer

from classpulse.db.base import UTCDateTime
from classpulse.db.rule import load_min_faces
from classpulse.db.weights import StoredWeights, load_weights
from classpulse.emotions import EMOTIONS

COUNT_COLUMNS: tuple[str, ...] = tuple(f"n_{e}" for e in EMOTIONS)
# a shown minute's mix is drawn only when at least this share of its faces was read (the one
# definition: the page, the lessons view and the charts' points all judge by it, the query here
# in SQL and everything else through :func:`mostly_read`)
MOSTLY_READ = 0.5
# faces and the readability gate's counts of the cameras that saw a group that minute, shown or
# hidden (:func:`_told_sums`)
SEEN_COLUMNS: tuple[str, ...] = ("seen_faces", "seen_read", "seen_small", "seen_turned",
                                 "seen_uncertain")
BUCKET_COLUMNS: tuple[str, ...] = (
    "bucket_start", "readable", "minutes", "hidden_minutes", "revised_minutes", "faces",
    "faces_read",
    "faces_in_view", "faces_read_in_view", "engagement_sum", *COUNT_COLUMNS, *SEEN_COLUMNS,
)
_FLOAT_COLUMNS = ("faces_in_view", "faces_read_in_view", "engagement_sum")
# the epoch seconds of a UTC minute, per dialect (SQLite keeps the UTC wall clock as text)
_EPOCH = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM m.minute_start) AS BIGINT)",
    "sqlite": "CAST(strftime('%s', m.minute_start) AS INTEGER)",
}
# rows written this close before the newest minute count as "the last write"
_FRESHNESS_LOOKBACK = timedelta(minutes=5)
# the database's clock, which writes ``updated_at`` (classpulse.db.writes), read in the statement
# that reads it; on PostgreSQL the statement's start, not its transaction's (``now()``): a write
# committed since the transaction began would look written in the future
_DB_NOW = {
    "postgresql": "statement_timestamp()",
    "sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now')",
}
# ``{minute}`` (SQL giving a minute_start) less _FRESHNESS_LOOKBACK, comparable with minute_start
# (SQLite's text compares in time order: '... 06:55:00.000000' >= '... 06:55:00.000')
_LOOKBACK_MINUTES = _FRESHNESS_LOOKBACK // timedelta(minutes=1)
_BEFORE_LOOKBACK = {
    "postgresql": f"{{minute}} - INTERVAL '{_LOOKBACK_MINUTES} minutes'",
    "sqlite": f"strftime('%Y-%m-%d %H:%M:%f', {{minute}}, '-{_LOOKBACK_MINUTES} minutes')",
}
# the columns of :func:`fetch_camera_writes`
CAMERA_WRITE_COLUMNS: tuple[str, ...] = ("id", "name", "written")


def mostly_read(faces: int | pd.Series, read: int | pd.Series) -> bool | pd.Series:
    """Whether ``read`` of ``faces`` is at least :data:`MOSTLY_READ` of them (per element of two
    Series): the rule by which a mix is drawn, everywhere but in the bucket query, which applies
    it to each minute in SQL."""
    return read >= MOSTLY_READ * faces


def _dialect_sql(choices: dict[str, str], engine: Engine) -> str:
    try:
        return choices[engine.dialect.name]
    except KeyError:
        raise NotImplementedError(
            f"the dashboard supports PostgreSQL and SQLite, not {engine.dialect.name}"
        ) from None


def _shown(column: str) -> str:
    return f"SUM(CASE WHEN m.shown THEN {column} ELSE 0 END)"


# what each of SEEN_COLUMNS sums, over the camera minutes the views let tell (``told``)
_SEEN_SOURCES = ("faces", "faces_read", "refused_small", "refused_turned", "refused_uncertain")


def _told_sums(camera: bool) -> list[str]:
    """SEEN_COLUMNS' sums over a bucket's minutes ``m``. Which camera minutes may tell why their
    faces were not read is the database's decision, made beside ``shown`` (``camera_minutes.told``:
    the camera saw at least the rule's number of faces at once, and its minute was not revised);
    a class minute carries the sums over the cameras it is made of that may (``told_<count>``).
    Never asked of a class minute's own sums, which count a pupil two cameras see twice and let a
    camera that saw a group speak for one that saw a child."""
    if camera:
        return [f"SUM(CASE WHEN m.told THEN m.{c} ELSE 0 END)" for c in _SEEN_SOURCES]
    return [f"SUM(m.told_{c})" for c in _SEEN_SOURCES]


def _revised(camera: bool) -> str:
    """Whether the hidden minute ``m`` was added to after it closed (``camera_minutes.revised``,
    0017), so that the page does not say it had too few faces read. A class minute is when one
    of the camera minutes it is made of was (a hidden class minute is made of all of them):
    ``class_minutes`` does not carry it, so each hidden class minute looks its camera minutes up
    in the (classroom, minute) index; a shown one is never looked up."""
    if camera:
        return "m.revised"
    return ("EXISTS (SELECT 1 FROM camera_minutes AS r WHERE r.classroom_id = m.classroom_id "
            "AND r.minute_start = m.minute_start AND r.revised)")


def _bucket_sql(engine: Engine, camera: bool) -> str:
    """The bucket query; ``m`` is the minute shown or hidden, a camera's or the classroom's, read
    once, one range of the classroom's minutes (:func:`_told_sums`), and a hidden class minute's
    camera minutes looked up (:func:`_revised`)."""
    source = "camera_minutes" if camera else "class_minutes"
    summed = ("faces", "faces_read", "engagement_sum", *COUNT_COLUMNS, "faces_in_view",
              "faces_read_in_view")
    camera_filter = "AND m.camera_id = :camera_id" if camera else ""
    per_bucket = ",\n  ".join(
        [f"{_shown(f'm.{c}')} AS {c}" for c in summed]
        + [f"{sums} AS {name}"
           for sums, name in zip(_told_sums(camera), SEEN_COLUMNS, strict=True)])
    return f"""
SELECT ({_dialect_sql(_EPOCH, engine)} / :bucket) * :bucket AS bucket_start,
  CASE WHEN m.shown AND m.faces_read >= :mostly_read * m.faces THEN 1 ELSE 0 END AS readable,
  {_shown("1")} AS minutes,
  SUM(CASE WHEN m.shown THEN 0 ELSE 1 END) AS hidden_minutes,
  SUM(CASE WHEN m.shown THEN 0 WHEN {_revised(camera)} THEN 1 ELSE 0 END) AS revised_minutes,
  {per_bucket}
FROM {source} AS m
WHERE m.classroom_id = :classroom_id {camera_filter}
  AND m.minute_start >= :start AND m.minute_start < :end
GROUP BY 1, 2
ORDER BY 1, 2"""


def bucket_query(engine: Engine, classroom_id: str, camera_id: str | None, start: datetime,
                 end: datetime, bucket_seconds: int) -> tuple[TextClause, dict[str, object]]:
    """:func:`fetch_buckets`' statement and parameters, apart so that the query-plan tests
    explain the very statement the dashboard runs."""
    stmt = text(_bucket_sql(engine, camera_id is not None)).bindparams(
        bindparam("start", type_=UTCDateTime()),
        bindparam("end", type_=UTCDateTime()),
        bindparam("bucket", type_=Integer()),
        bindparam("mostly_read", type_=Float()),
    )
    params: dict[str, object] = {
        "classroom_id": classroom_id, "start": start, "end": end, "bucket": int(bucket_seconds),
        "mostly_read": MOSTLY_READ,
    }
    if camera_id is not None:
        params["camera_id"] = camera_id
    return stmt, params


def fetch_buckets(
    engine: Engine,
    classroom_id: str,
    camera_id: str | None,
    start: datetime,
    end: datetime,
    bucket_seconds: int,
) -> pd.DataFrame:
    """Per bucket and readability: shown minutes, hidden minutes, and sums over the shown minutes
    only, ordered by bucket, then ``readable``.

    A bucket has a row ``readable`` 1 for its shown minutes whose faces were mostly read
    (:data:`MOSTLY_READ`, judged per minute) when it has any, and a row 0 for the others (hidden
    minutes, shown ones mostly not read) when it has any. ``camera_id`` None means the whole
    classroom (``class_minutes``: its cameras summed per minute); a camera id reads that camera's
    own minutes (``camera_minutes``). ``faces_in_view`` and ``faces_read_in_view`` are summed over
    the row's shown minutes (divide by ``minutes`` for the mean); the ``seen_*`` columns over the
    cameras, of its minutes shown or hidden, that each saw at least the rule's number of faces at
    once and were not added to after they closed (:func:`_told_sums`). ``revised_minutes``
    counts those of the hidden minutes that were added to after they closed (:func:`_revised`),
    the others had too few faces read.
    """
    stmt, params = bucket_query(engine, classroom_id, camera_id, start, end, bucket_seconds)
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


def _newest_minute(camera: str) -> str:
    """The newest minute of the camera that ``camera`` (SQL) names, in any classroom: one look-up
    at the end of its primary-key range (camera_id, minute_start, classroom_id).

    Asked as the last row in the key's order, the camera's id as a range, so that no other index
    can answer it: as ``MAX(minute_start) ... WHERE camera_id = ...`` PostgreSQL, once half the
    table's pages were not all-visible, walked the minute index backwards looking for the
    camera's rows instead, through the whole table for a camera without any (13 s)."""
    return (f"(SELECT n.minute_start FROM emotion_minutes AS n "
            f"WHERE n.camera_id >= {camera} AND n.camera_id <= {camera} "
            f"ORDER BY n.camera_id DESC, n.minute_start DESC LIMIT 1)")


def _moved_away(camera: str) -> str:
    """Whether the camera that ``camera`` (SQL) names has moved away from ``:classroom_id``: its
    newest minute was counted for another classroom (the minute of the move, counted for both,
    included). ``cameras.classroom_id`` cannot tell: it stays where the camera first reported
    (:func:`classpulse.db.writes.ensure_cameras`), while each minute row carries the classroom it
    was counted for. Primary-key look-ups of the camera's newest minute only, however long ago."""
    return (f"EXISTS (SELECT 1 FROM emotion_minutes AS o WHERE o.camera_id = {camera} "
            f"AND o.minute_start = {_newest_minute(camera)} AND o.classroom_id <> :classroom_id)")


def cameras_query(classroom_id: str, start: datetime,
                  end: datetime) -> tuple[TextClause, dict[str, object]]:
    """:func:`fetch_cameras`' statement and parameters, apart so that the query-plan tests
    explain the very statement the dashboard runs.

    The period's minutes of the classroom are given as one range of (classroom_id, minute_start)
    row values, which only the (classroom, minute) index can serve, read index-only: with the
    same bounds as separate conditions PostgreSQL read a week of three cameras' minutes of a
    database holding two classrooms' year through the minute index instead, both classrooms'
    rows from the table (15 to 690 ms, by what was cached), where this reads the classroom's
    index entries alone (10 ms). SQLite searches the index by the row values too, but by the
    classroom alone if ``classroom_id = :classroom_id`` is added. PostgreSQL estimates such a
    range at one row: a year's list reads its 1.6 M entries without parallel workers (0.7 s)."""
    stmt = text(
        "SELECT c.id, c.name FROM cameras AS c "
        f"WHERE c.classroom_id = :classroom_id AND NOT {_moved_away('c.id')} "
        "UNION "
        "SELECT c.id, c.name FROM (SELECT DISTINCT e.camera_id FROM emotion_minutes AS e "
        "WHERE (e.classroom_id, e.minute_start) >= (:classroom_id, :start) "
        "AND (e.classroom_id, e.minute_start) < (:classroom_id, :end)) AS m "
        "JOIN cameras AS c ON c.id = m.camera_id "
        "ORDER BY name, id"
    ).bindparams(bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime()))
    return stmt, {"classroom_id": classroom_id, "start": start, "end": end}


def fetch_cameras(engine: Engine, classroom_id: str, start: datetime,
                  end: datetime) -> pd.DataFrame:
    """The cameras a page of the classroom over ``[start, end)`` offers: ``id``, ``name``, by
    name. Those that counted minutes for it in the period, and those registered to it that have
    not moved away (:func:`_moved_away`; one registered without minutes yet is listed). A camera
    moved to another classroom counts its minutes there (the minute rows carry their classroom)
    and must be one that classroom's teacher can pick; its old classroom lists it for the
    periods it counted minutes there only.

    Bounded by the period: the minutes are read from the (classroom, minute) index over
    ``[start, end)`` alone, never the classroom's whole history (a year of three cameras is 1.6 M
    rows), so a live window costs a few hundred index entries, and a date range about what its
    buckets do."""
    stmt, params = cameras_query(classroom_id, start, end)
    with engine.connect() as conn:
        rows = conn.execute(stmt, params).all()
    return pd.DataFrame(rows, columns=["id", "name"])


def fetch_last_write(
    engine: Engine, classroom_id: str, camera_id: str | None
) -> tuple[datetime | None, datetime | None]:
    """(newest closed minute, when rows from shortly before it on were last written), both UTC;
    (None, None) while no minute has closed. The write time is on this machine's clock, to be
    compared with its ``datetime.now``: its age is measured by the database's clock, which wrote
    it (:data:`_DB_NOW`), in the statement that reads it, and taken from now here. The
    consumers', the database's and this machine's clocks may each differ: compared with a clock
    of another machine, a write could look minutes old as it happens, or fresh long after.

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
        f"SELECT MAX(updated_at) AS written, {_dialect_sql(_DB_NOW, engine)} AS db_now "
        f"FROM emotion_minutes "
        f"WHERE classroom_id = :classroom_id {camera_filter} AND minute_start >= :since"
    ).bindparams(bindparam("since", type_=UTCDateTime())).columns(
        written=UTCDateTime(), db_now=UTCDateTime())
    with engine.connect() as conn:
        last_minute = conn.execute(newest, params).scalar()
        if last_minute is None:
            return None, None
        last_write, db_clock = conn.execute(
            written, {**params, "since": last_minute - _FRESHNESS_LOOKBACK}
        ).one()
    if last_write is None:
        return last_minute, None
    return last_minute, datetime.now(timezone.utc) - (db_clock - last_write)


def camera_writes_query(engine: Engine, classroom_id: str,
                        since: datetime) -> tuple[TextClause, dict[str, object]]:
    """:func:`fetch_camera_writes`' statement and parameters, apart so that the query-plan tests
    explain the very statement the dashboard runs."""
    newest = _newest_minute("k.id")
    lookback = _dialect_sql(_BEFORE_LOOKBACK, engine).format(minute=newest)
    stmt = text(
        f"SELECT k.id, k.name, (SELECT MAX(w.updated_at) FROM emotion_minutes AS w "
        f"WHERE w.camera_id = k.id AND w.classroom_id = :classroom_id "
        f"AND w.minute_start >= {lookback} AND w.minute_start <= {newest}) AS written, "
        f"{_dialect_sql(_DB_NOW, engine)} AS db_now "
        f"FROM cameras AS k "
        f"WHERE {newest} >= :since AND NOT {_moved_away('k.id')} "
        f"ORDER BY k.name, k.id"
    ).bindparams(bindparam("since", type_=UTCDateTime()))
    return stmt, {"classroom_id": classroom_id, "since": since}


def fetch_camera_writes(engine: Engine, classroom_id: str, since: datetime) -> pd.DataFrame:
    """Each camera of the classroom since ``since``, with when it last wrote: ``id``, ``name``,
    ``written`` (UTC), by name. One statement for all cameras, so the page can name each one
    that stopped (``dashboard.app.show_stopped_cameras``) however many there are.

    A camera of the classroom is one whose newest minute, from ``since`` on, was counted for it:
    one that moved to another classroom (:func:`_moved_away`) is that classroom's, not a stopped
    camera of this one. Its last write is judged as :func:`fetch_last_write` judges the
    classroom's: ``updated_at`` of its rows here from a little before its newest minute on, aged
    by the database's clock in the same statement and given on this machine's. ``since`` bounds
    the minutes, not the writes: a minute dated before it but written after is not looked at.

    Every step is a look-up in ``emotion_minutes``' primary key (camera_id, minute_start,
    classroom_id) at a camera's newest minute: two or three index entries for each camera in
    ``cameras`` (of any classroom: one that moved in is registered elsewhere), a few more for the
    classroom's own, never a range of any classroom's minutes. A grouped scan of the classroom's
    last fortnight would read 60,000 index entries for three cameras, every few seconds; this is
    about 1 ms for 30 cameras, 30 ms for 1,000.
    """
    stmt, params = camera_writes_query(engine, classroom_id, since)
    typed = stmt.columns(written=UTCDateTime(), db_now=UTCDateTime())
    with engine.connect() as conn:
        rows = conn.execute(typed, params).all()
    now = datetime.now(timezone.utc)
    return pd.DataFrame(
        [(camera_id, name, now - (db_now - written))
         for camera_id, name, written, db_now in rows if written is not None],
        columns=list(CAMERA_WRITE_COLUMNS))
