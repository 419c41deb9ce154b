"""Consumer hardening: ``offset_resets`` (log resets an operator can query) and ``seen_frames``
(the frames counted recently per camera, so a producer's retried sends count once).

Revision ID: 0009_hardening
Revises: 0008_faces_read
Create Date: 2026-12-02

Both tables are written by the consumer in the same transaction as the aggregates and offsets
(see classpulse.db.models.offset_reset and classpulse.db.models.seen_frame). ``seen_frames`` is
served by its primary key (camera_id, captured_at_ms, seq): lookups load it whole, pruning
deletes one camera's range.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_hardening"
down_revision: str | None = "0008_faces_read"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "offset_resets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("stored_offset", sa.BigInteger(), nullable=False),
        sa.Column("log_end_offset", sa.BigInteger(), nullable=False),
        sa.Column("restart_offset", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offset_resets")),
    )
    op.create_table(
        "seen_frames",
        sa.Column("camera_id", sa.Text(), nullable=False),
        sa.Column("captured_at_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("camera_id", "captured_at_ms", "seq", name=op.f("pk_seen_frames")),
    )


def downgrade() -> None:
    op.drop_table("seen_frames")
    op.drop_table("offset_resets")
