"""Typed handles on the analyst views, for SQLAlchemy Core queries (e.g. the dashboard's).

The views are created by migrations ``0006_small_group_rule`` (``camera_minutes``, where the
small-group rule is decided, and the class views built on it) and ``0007_lessons``
(``lesson_summaries``), and rebuilt by ``0008_faces_read`` with the readability gate's counts and
the rule on faces read (``0010_classroom_in_key`` makes them again, unchanged, on SQLite, which
rebuilds ``emotion_minutes`` to change its key), and by ``0011_class_of_shown_cameras``, where a
shown class minute sums its shown cameras' minutes only. ``0013_shown_views`` adds
``shown_camera_minutes`` and ``shown_class_minutes``, the shown rows of the two, for analysts who
may read no hidden minute (:data:`classpulse.db.roles.READER`), and ``0014_closed_minutes`` lets a
minute into ``camera_minutes``, and so into every view, only once it has closed (once no consumer
adds to it, since ``0015_closes_after_max_lag``: ``classpulse.flags.MINUTE_CLOSES_AFTER_START_S``
after its start). ``0017_revised_minutes`` hides for good a camera minute added to after it closed
(``revised``) and moves into the views the dashboard's test of which camera minutes may tell why
their faces were not read (``camera_minutes.told``, summed in ``class_minutes.told_<count>``).
These ``Table``
objects live in their own ``MetaData`` so Alembic's autogenerate never tries to create them as
tables; selecting through them gives bound parameters and, on SQLite, real
``datetime``/``date``/``bool`` values instead of text and integers. A test checks that their
columns match the migrated views.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, Double, Integer, MetaData, Table, Text

from classpulse.db.base import UTCDateTime
from classpulse.emotions import EMOTIONS

VIEWS_METADATA = MetaData()


COUNTS = ("frames", "frames_with_faces", "faces", "faces_read", "frames_with_read_faces",
          "refused_small", "refused_turned", "refused_uncertain")
# what a class minute sums over its cameras that may tell why faces were not read (0017)
TOLD_COUNTS = ("faces", "faces_read", "refused_small", "refused_turned", "refused_uncertain")


def _measures() -> list[Column]:
    return [Column("faces_in_view", Double), Column("faces_read_in_view", Double)]


def _counts(names: tuple[str, ...]) -> list[Column]:
    return [Column(name, Integer) for name in names]


def _emotion_sums(with_p: bool = True) -> list[Column]:
    cols = [Column(f"n_{e}", Integer) for e in EMOTIONS]
    if with_p:
        cols += [Column(f"p_{e}", Double) for e in EMOTIONS]
    cols.append(Column("engagement_sum", Double))
    return cols


def _means() -> list[Column]:
    return [Column("engagement", Double), *(Column(f"share_{e}", Double) for e in EMOTIONS)]


def _rollup(counts: tuple[str, ...] = COUNTS, with_p: bool = True) -> list[Column]:
    """Columns of a rollup over shown minutes (0006's ``shown_rollup_columns``)."""
    return [
        Column("minutes", Integer), Column("hidden_minutes", Integer), *_counts(counts),
        *_measures(), *_emotion_sums(with_p), *_means(),
    ]


camera_minutes = Table(
    "camera_minutes",
    VIEWS_METADATA,
    Column("camera_id", Text),
    Column("classroom_id", Text),
    Column("minute_start", UTCDateTime),
    *_counts(COUNTS),
    *_measures(),
    Column("shown", Boolean),
    *_emotion_sums(),
    Column("revised", Boolean),
    Column("told", Boolean),
)

class_minutes = Table(
    "class_minutes",
    VIEWS_METADATA,
    Column("classroom_id", Text),
    Column("minute_start", UTCDateTime),
    Column("cameras", Integer),
    *_counts(COUNTS),
    Column("largest_view", Double),
    *_measures(),
    Column("shown", Boolean),
    *_emotion_sums(),
    *_means(),
    *(Column(f"told_{name}", Integer) for name in TOLD_COUNTS),
)

class_days = Table(
    "class_days",
    VIEWS_METADATA,
    Column("classroom_id", Text),
    Column("day", Date),
    *_rollup(),
)

class_hour_of_week = Table(
    "class_hour_of_week",
    VIEWS_METADATA,
    Column("classroom_id", Text),
    Column("iso_dow", Integer),
    Column("hour", Integer),
    *_rollup(counts=("frames", "faces", "faces_read"), with_p=False),
)

lesson_summaries = Table(
    "lesson_summaries",
    VIEWS_METADATA,
    Column("lesson_id", Integer),
    Column("classroom_id", Text),
    Column("title", Text),
    Column("subject", Text),
    Column("group_label", Text),
    Column("starts_at", UTCDateTime),
    Column("ends_at", UTCDateTime),
    *_rollup(),
)


def _shown_rows(name: str, view: Table) -> Table:
    """``view``'s shown rows (``SELECT * ... WHERE shown``): its columns, under ``name``."""
    return Table(name, VIEWS_METADATA, *(Column(c.name, c.type) for c in view.columns))


shown_camera_minutes = _shown_rows("shown_camera_minutes", camera_minutes)
shown_class_minutes = _shown_rows("shown_class_minutes", class_minutes)

VIEWS: tuple[Table, ...] = (
    camera_minutes, class_minutes, class_days, class_hour_of_week, lesson_summaries,
    shown_camera_minutes, shown_class_minutes,
)
