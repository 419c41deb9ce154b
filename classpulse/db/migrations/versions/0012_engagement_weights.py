"""The engagement weights in the database, beside the small-group rule.

Revision ID: 0012_engagement_weights
Revises: 0011_class_of_shown_cameras
Create Date: 2026-12-06

A face's engagement is its top emotion's probability times that emotion's weight, applied by the
consumer when it counts the face (``emotion_minutes.engagement_sum``). Until now the weights were
each process's own setting: a consumer given other ``ENGAGEMENT_WEIGHTS`` than the dashboard
stored sums the page then explained with weights nobody had used. Now ``engagement_weights`` holds
them (one row; the defaults below until ``classpulse db upgrade --engagement-weights`` stores
others): consumers score with the row's weights and the dashboard names them, with the time they
were stored. Engagement already summed keeps the weights it was scored with.

The defaults are written out here, not imported, so this revision keeps meaning what it meant when
it shipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_engagement_weights"
down_revision: str | None = "0011_class_of_shown_cameras"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# EMOTIONS order; the concentration index of Sharma et al. (2019), as classpulse.emotions had them
DEFAULTS = (("angry", 0.25), ("disgust", 0.2), ("fear", 0.3), ("happy", 0.6), ("sad", 0.3),
            ("surprise", 0.6), ("neutral", 0.9))


def upgrade() -> None:
    op.create_table(
        "engagement_weights",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        *(sa.Column(f"w_{e}", sa.Double(), nullable=False) for e, _ in DEFAULTS),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_engagement_weights_one_row")),
        *(sa.CheckConstraint(f"w_{e} >= 0 AND w_{e} <= 1",
                             name=op.f(f"ck_engagement_weights_w_{e}_in_0_1"))
          for e, _ in DEFAULTS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_weights")),
    )
    columns = ", ".join(f"w_{e}" for e, _ in DEFAULTS)
    values = ", ".join(repr(w) for _, w in DEFAULTS)
    op.execute(f"INSERT INTO engagement_weights (id, {columns}) VALUES (1, {values})")


def downgrade() -> None:
    op.drop_table("engagement_weights")
