"""Tables and the index plan: classrooms, cameras, emotion_minutes, rejected_frames, offsets.

Revision ID: 0001_tables
Revises:
Create Date: 2025-01-01

Index plan (docs/sql.md explains it with the queries it serves):
- ``emotion_minutes`` primary key (camera_id, minute_start): the consumer's additive upsert and
  per-camera reads.
- ``ix_emotion_minutes_classroom_id_minute_start``: every class-level read (the views, the
  dashboard) filters one classroom over a time range and groups by minute.
- ``ix_emotion_minutes_minute_start``: all classrooms over a recent window, retention deletes.
- ``ix_cameras_classroom_id``: the cameras of a classroom.
- ``rejected_frames`` and ``consumer_offsets`` are served by their primary keys.

The emotion list is written out here, not imported, so this revision keeps meaning what it meant
when it shipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_tables"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "classrooms",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), server_default="UTC", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classrooms")),
    )
    if op.get_context().dialect.name == "postgresql":
        # A zone name the server does not know would make every local-time view fail; refuse it
        # at UPDATE time instead, with PostgreSQL's own "time zone ... not recognized" message.
        op.create_check_constraint(
            op.f("ck_classrooms_timezone_known"),
            "classrooms",
            "(TIMESTAMPTZ '2000-01-01 00:00+00' AT TIME ZONE timezone) IS NOT NULL",
        )
    op.create_table(
        "cameras",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("classroom_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["classroom_id"], ["classrooms.id"], name=op.f("fk_cameras_classroom_id_classrooms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cameras")),
    )
    op.create_index(op.f("ix_cameras_classroom_id"), "cameras", ["classroom_id"])

    op.create_table(
        "emotion_minutes",
        sa.Column("camera_id", sa.Text(), nullable=False),
        sa.Column("minute_start", _utc(), nullable=False),
        sa.Column("classroom_id", sa.Text(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("frames_with_faces", sa.Integer(), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        *(sa.Column(f"n_{e}", sa.Integer(), nullable=False) for e in EMOTIONS),
        *(sa.Column(f"p_{e}", sa.Double(), nullable=False) for e in EMOTIONS),
        sa.Column("engagement_sum", sa.Double(), nullable=False),
        sa.Column("updated_at", _utc(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_emotion_minutes_camera_id_cameras")
        ),
        sa.ForeignKeyConstraint(
            ["classroom_id"],
            ["classrooms.id"],
            name=op.f("fk_emotion_minutes_classroom_id_classrooms"),
        ),
        sa.PrimaryKeyConstraint("camera_id", "minute_start", name=op.f("pk_emotion_minutes")),
    )
    op.create_index(
        "ix_emotion_minutes_classroom_id_minute_start",
        "emotion_minutes",
        ["classroom_id", "minute_start"],
    )
    op.create_index("ix_emotion_minutes_minute_start", "emotion_minutes", ["minute_start"])

    op.create_table(
        "rejected_frames",
        sa.Column("minute_start", _utc(), nullable=False),
        sa.Column("camera_id", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "minute_start", "camera_id", "reason", name=op.f("pk_rejected_frames")
        ),
    )
    op.create_table(
        "consumer_offsets",
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "group_id", "topic", "partition", name=op.f("pk_consumer_offsets")
        ),
    )


def downgrade() -> None:
    op.drop_table("consumer_offsets")
    op.drop_table("rejected_frames")
    op.drop_index("ix_emotion_minutes_minute_start", table_name="emotion_minutes")
    op.drop_index("ix_emotion_minutes_classroom_id_minute_start", table_name="emotion_minutes")
    op.drop_table("emotion_minutes")
    op.drop_index(op.f("ix_cameras_classroom_id"), table_name="cameras")
    op.drop_table("cameras")
    op.drop_table("classrooms")
