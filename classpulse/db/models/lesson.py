"""``lessons``: the timetable, one row per lesson held in a classroom, from a school's file.

Rows come from ``classpulse lessons import`` (CSV or iCalendar); see :mod:`classpulse.lessons`.
Only what a timetable says about a lesson is kept: where, when, its title and optional subject and
group labels. No names of people (an iCalendar ORGANIZER or ATTENDEE is never read).

``source_key`` is a lesson's identity in the file it came from, so importing a file again updates
the same rows (and a bookmarked lesson keeps its ``id``): ``<scope>/<recurrence id>`` for an
iCalendar occurrence (in UTC when the file gives it a zone, as wall-clock time without an offset
when it is floating, so that setting the classroom's time zone moves it in place; docs/sql.md),
``csv:<classroom>/<start, UTC>`` for a CSV row (with ``/<group>``, or
``/<group>/<title>``, when parallel rows share that classroom and start). ``source_scope`` is what
one import replaces as a whole: every occurrence of an iCalendar event (``ics:<UID>``, or
``ics@<classroom, percent-encoded>:<UID>`` for a file imported with ``--classroom``, as per-room
exports may share UIDs), or a classroom's day in a CSV (``csv:<classroom>/<local date>``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from classpulse.db.base import Base, UTCDateTime


class Lesson(Base):
    """One lesson: ``[starts_at, ends_at)`` in UTC in one classroom."""

    __tablename__ = "lessons"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # a classroom's week of lessons, and a title's earlier lessons in that classroom
        Index("ix_lessons_classroom_id_starts_at", "classroom_id", "starts_at"),
        # on SQLite an id is never given again, so a bookmarked lesson removed by an import
        # does not open the next lesson inserted (migration 0018); PostgreSQL's sequence never
        # reuses one
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    classroom_id: Mapped[str] = mapped_column(Text, ForeignKey("classrooms.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    title: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    group_label: Mapped[str | None] = mapped_column(Text)
    source_key: Mapped[str] = mapped_column(Text, unique=True)
    source_scope: Mapped[str] = mapped_column(Text, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
