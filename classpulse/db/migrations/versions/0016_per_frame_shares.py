"""A classroom's cameras weigh alike: shares and engagement are means of faces per frame.

Revision ID: 0016_per_frame_shares
Revises: 0015_closes_after_max_lag
Create Date: 2026-12-10

Until now a class minute's shares and engagement divided its cameras' summed sightings
(``sum(n_<emotion>) / sum(faces_read)``), so a camera analysed at 4 frames a second weighed twice
one at 2, and a camera whose frames were skipped that minute (``stale``, a consumer behind)
weighed less. A front camera at 2 fps reading 20 neutral faces a frame (2,400 sightings) and a
back camera at 4 fps reading 5 happy ones (1,200) showed the class 33 % happy; 5 of its 25 faces
are, 20 %. Now each camera minute's counts are divided by its ``frames`` first (:func:`rates`:
``rate_<emotion> = n_<emotion> / frames`` and likewise ``rate_faces``, ``rate_read`` and
``rate_engagement``), faces per frame, and every level divides sums of those rates:

    share_<emotion> = sum(rate_<emotion>) / sum(rate_read)
    engagement      = sum(rate_engagement) / sum(rate_read)

over a class minute's cameras (its ``rate_*`` columns sum theirs), and over the minutes of a day,
an hour of the week or a lesson (their ``rate_*`` columns sum the shown minutes', as the counts
do, so that days add up). The denominator is ``frames``, every frame the consumer analysed in
the minute (``consumers/aggregate.py`` counts each one, with faces or without, and none it
skipped): a frame without faces is a look at the room that found none, so dividing by
``frames_with_faces`` would give a camera that saw the class half of the minute the weight of one
that saw it all along. For one camera within one minute nothing changes (the same ``frames``
divides every count); across one camera's minutes the rates weigh each minute by its faces per
frame, as between cameras. ``n_<emotion>``, ``faces``, ``faces_read`` and ``engagement_sum`` keep
counting sightings.

On PostgreSQL the covering index also includes ``frames``, so the dashboard's reads stay
index-only. One camera's minutes are then a close call between that wider index and the primary
key (camera first, whose rows must be fetched from the table): the planner took the classroom and
the camera for independent conditions, estimated a fiftieth of the camera's rows and chose the
key. :data:`STATISTICS` tells it that a camera's rows are its classroom's (extended statistics,
gathered by the next ANALYZE, which autovacuum runs), so it estimates them right and reads the
covering index alone (tests/db/test_index_plan.py). Rebuilding the index holds a lock on
``emotion_minutes`` for as long as it takes (about half a minute per 10 M rows): consumers'
flushes fail meanwhile and are retried. The views are dropped and made again, so they lose their
grants: ``classpulse db upgrade --app-roles`` (compose's ``migrate``) grants the dashboard's and
the consumers' roles again; operators run ``classpulse db grant-reader`` again for analysts
(README, "Upgrading"). The downgrade restores 0015's views and index and drops the statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from alembic import context, op

revision: str = "0016_per_frame_shares"
down_revision: str | None = "0015_closes_after_max_lag"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RATE = "rate_"
STATISTICS = "st_emotion_minutes_camera_id_classroom_id"
# what engagement and the shares divide from this revision on (0006's Shape.ratio_sums)
RATIO_SUMS = (f"{RATE}read", f"{RATE}engagement", f"{RATE}{{e}}")


def _module(name: str) -> ModuleType:
    return context.script.get_revision(name).module


def rates(rule: ModuleType) -> tuple[tuple[str, str], ...]:
    """The per-frame measures of ``emotion_minutes e`` (``rule`` is 0006's module): faces, faces
    read, each emotion's faces and engagement per frame analysed in the minute."""
    counts = (("faces", "faces"), ("read", "faces_read"),
              *((e, f"n_{e}") for e in rule.EMOTIONS), ("engagement", "engagement_sum"))
    return tuple((f"{RATE}{name}", f"CAST(e.{column} AS DOUBLE PRECISION) / NULLIF(e.frames, 0)")
                 for name, column in counts)


def per_frame(view_shape: Any, rule: ModuleType) -> Any:
    """``view_shape`` (0006's ``Shape``) with the per-frame rates, and engagement and the shares
    divided from them; needs no migration context, so tests can build the views' columns."""
    return view_shape._replace(rates=rates(rule), ratio_sums=RATIO_SUMS)


def shape(faces_read: ModuleType, rule: ModuleType) -> Any:
    """The views' shape from this revision on: 0015's, :func:`per_frame`."""
    closed = _module("0014_closed_minutes").shape(faces_read, rule)._replace(
        closes_after_s=_module("0015_closes_after_max_lag").CLOSES_AFTER_S)
    return per_frame(closed, rule)


def upgrade() -> None:
    views = _module("0008_faces_read")
    _module("0015_closes_after_max_lag")._drop_views()
    views._index([*views.INCLUDED, "frames"])
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        op.execute(f"CREATE STATISTICS {STATISTICS} (dependencies) "
                   "ON camera_id, classroom_id FROM emotion_minutes")
    views._create_views(dialect, shape(views, views._modules()[0]))
    _module("0013_shown_views").create_views(dialect)


def downgrade() -> None:
    views, closed = _module("0008_faces_read"), _module("0015_closes_after_max_lag")
    closed._drop_views()
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS {STATISTICS}")
    views._index(views.INCLUDED)
    closed._create_views(closed.CLOSES_AFTER_S)
