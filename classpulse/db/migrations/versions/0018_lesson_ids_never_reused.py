"""On SQLite, a lesson's id is never given to another lesson: ``lessons`` gets AUTOINCREMENT.

Revision ID: 0018_lesson_ids_never_reused
Revises: 0017_revised_minutes
Create Date: 2026-12-12

A bookmarked lesson (``?classroom=7A&week=2025-03-03&lesson=2``) must open that lesson or none,
however often the timetable is imported again (README). 0007 made ``lessons.id`` an INTEGER
PRIMARY KEY, which SQLite, without AUTOINCREMENT, fills with the largest id held + 1: a lesson an
import removed (the last one imported, say) left its id to the next lesson inserted, and a
teacher's bookmark of Art silently opened History. With AUTOINCREMENT SQLite keeps the largest id
it ever gave in ``sqlite_sequence`` and never gives one twice. On PostgreSQL ``lessons.id`` is a
SERIAL column, whose sequence never gives a number twice already (a rolled-back insert skips
one): this revision does nothing there, so PostgreSQL keeps its views and their grants.

SQLite cannot add AUTOINCREMENT to a table it holds, so ``lessons`` is made again in SQLite's own
steps (the old one renamed aside, the new one created, every row copied with its id, the old one
dropped): the same columns, constraints and index names as 0007's (:func:`create_table_sql`, its
SQL written out), only the primary key now said on ``id`` with AUTOINCREMENT, as SQLite requires,
under the same name. The sequence starts after the largest id held: an id removed before this
upgrade and larger than every id still held is known nowhere, and may still be given once more.
Copying takes about a second per 100 k lessons, in the upgrade's one transaction; no consumer
writes lessons. SQLite checks the views when a table is renamed and ``lesson_summaries`` reads
``lessons``, so every view is dropped and made again as 0017 left them (SQLite has no grants to
lose); the rename is SQLite's legacy one, so that a view of the school's own over ``lessons``
still names it after the rebuild. Consumers started with ``--no-migrate`` check the revision
when they start: restart them after ``classpulse db upgrade`` (README, "Upgrading").

Names and SQL are written out here, not imported, so this revision keeps meaning what it meant
when it shipped. The downgrade makes ``lessons`` again without AUTOINCREMENT, rows and ids kept
(SQLite keeps its then empty ``sqlite_sequence`` table); removed ids may then be given again.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from alembic import context, op

revision: str = "0018_lesson_ids_never_reused"
down_revision: str | None = "0017_revised_minutes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "lessons"
OLD = "_alembic_tmp_lessons"  # the table being copied, for the length of the transaction
COLUMNS = ("id", "classroom_id", "starts_at", "ends_at", "title", "subject", "group_label",
           "source_key", "source_scope", "updated_at")
# 0007's columns and constraints as SQLite stores them (SQLAlchemy's rendering, written out); with
# AUTOINCREMENT the primary key is said on the column, as SQLite requires, under the same name
KEY = "CONSTRAINT pk_lessons PRIMARY KEY"
DEFINITIONS = (
    "classroom_id TEXT NOT NULL",
    "starts_at DATETIME NOT NULL",
    "ends_at DATETIME NOT NULL",
    "title TEXT NOT NULL",
    "subject TEXT",
    "group_label TEXT",
    "source_key TEXT NOT NULL",
    "source_scope TEXT NOT NULL",
    "updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL",
)
CONSTRAINTS = (
    "CONSTRAINT ck_lessons_ends_after_start CHECK (ends_at > starts_at)",
    "CONSTRAINT fk_lessons_classroom_id_classrooms FOREIGN KEY(classroom_id) "
    "REFERENCES classrooms (id)",
    "CONSTRAINT uq_lessons_source_key UNIQUE (source_key)",
)
INDEXES = (("ix_lessons_classroom_id_starts_at", "classroom_id, starts_at"),
           ("ix_lessons_source_scope", "source_scope"))


def _module(name: str) -> ModuleType:
    return context.script.get_revision(name).module


def create_table_sql(autoincrement: bool) -> str:
    """``lessons`` as 0007 created it on SQLite, with AUTOINCREMENT or without."""
    if autoincrement:
        lines = [f"id INTEGER NOT NULL {KEY} AUTOINCREMENT", *DEFINITIONS, *CONSTRAINTS]
    else:
        lines = ["id INTEGER NOT NULL", *DEFINITIONS, f"{KEY} (id)", *CONSTRAINTS]
    return f"CREATE TABLE {TABLE} (\n\t" + ", \n\t".join(lines) + "\n)"


def _rebuild(autoincrement: bool) -> None:
    """On SQLite, ``lessons`` made again with or without AUTOINCREMENT, rows and ids kept (SQLite's
    own steps for a change ALTER TABLE cannot make), the views dropped first and made again as
    0017 left them. Renaming the old table aside first keeps the new one's name unquoted in its
    stored SQL, as 0007's was; SQLite moves the sequence's row with a rename and deletes it with
    the table."""
    if op.get_context().dialect.name != "sqlite":
        return
    views = _module("0017_revised_minutes")
    faces_read = _module("0008_faces_read")
    views._drop_views()
    for name, _ in INDEXES:
        op.execute(f"DROP INDEX {name}")
    # legacy: a view of the school's own over lessons keeps naming lessons, which is made again
    # below; SQLite's default would point it at the table dropped below, and every later rename
    # in this database would then fail on it
    op.execute("PRAGMA legacy_alter_table = ON")
    op.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    op.execute("PRAGMA legacy_alter_table = OFF")
    op.execute(create_table_sql(autoincrement))
    copied = ", ".join(COLUMNS)
    op.execute(f"INSERT INTO {TABLE} ({copied}) SELECT {copied} FROM {OLD} ORDER BY id")
    op.execute(f"DROP TABLE {OLD}")
    for name, indexed in INDEXES:
        op.execute(f"CREATE INDEX {name} ON {TABLE} ({indexed})")
    views._create_views(views.shape(faces_read, faces_read._modules()[0]))


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
