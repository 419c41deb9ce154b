"""The engagement weights, as the database holds them (``engagement_weights``).

Consumers score each face with these weights when they count it; the dashboard names them beside
the engagement it charts. Both read them here, so neither can explain engagement with weights the
other did not use. ``classpulse db upgrade`` stores ``ENGAGEMENT_WEIGHTS`` when it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from classpulse.db.models import EngagementWeights
from classpulse.emotions import EMOTIONS, weights_vector
from classpulse.errors import UsageError
from classpulse.settings import Settings

log = logging.getLogger(__name__)

_TABLE = EngagementWeights.__table__
_COLUMNS = [_TABLE.c[f"w_{e}"] for e in EMOTIONS]


@dataclass(frozen=True)
class StoredWeights:
    """The weights (emotion -> weight) and when they were stored (UTC)."""

    weights: Mapping[str, float]
    updated_at: datetime


def requested_weights(settings: Settings) -> Mapping[str, float] | None:
    """``ENGAGEMENT_WEIGHTS`` when a flag or the environment gave it; None when only defaulted.

    A default must not overwrite weights an operator stored earlier.
    """
    return settings.engagement_weights if "engagement_weights" in settings.explicit else None


def load_weights(conn: Connection) -> StoredWeights:
    """The stored weights; a database without the row cannot say how engagement was scored."""
    row = conn.execute(select(*_COLUMNS, _TABLE.c.updated_at)).one_or_none()
    if row is None:
        raise UsageError(
            "the database holds no engagement weights (table engagement_weights is empty); store "
            "them with `classpulse db upgrade --engagement-weights neutral=0.9` (unnamed emotions "
            "keep their default)"
        )
    # a plain dict: the dashboard's cache pickles it (a MappingProxyType cannot be)
    weights = {e: float(w) for e, w in zip(EMOTIONS, row[:-1], strict=True)}
    return StoredWeights(weights, row[-1])


def store_weights(conn: Connection, weights: Mapping[str, float]) -> None:
    """Set the weights (in the caller's transaction); the row is created if it went missing.

    The same weights again leave the row, its time included, as it is: compose's ``migrate``
    stores ``ENGAGEMENT_WEIGHTS`` at every ``up``, and the page says since when they apply.
    """
    values = {f"w_{e}": w for e, w in zip(EMOTIONS, weights_vector(weights), strict=True)}
    row = conn.execute(select(*_COLUMNS)).one_or_none()
    if row is not None and tuple(row) == tuple(values.values()):
        return
    changed = conn.execute(update(_TABLE).values(**values, updated_at=func.now())).rowcount
    if not changed:
        conn.execute(_TABLE.insert().values(id=1, **values))
    log.info("engagement weights stored %s", weights_text(weights))


def check_consumer_weights(settings: Settings, stored: StoredWeights) -> None:
    """Refuse a consumer told other weights than the database's: it would score with weights the
    dashboard does not name, or silently not with the ones it was given."""
    given = requested_weights(settings)
    if given is not None and weights_vector(given) != weights_vector(stored.weights):
        raise UsageError(
            f"ENGAGEMENT_WEIGHTS {weights_text(given)} differ from the database's "
            f"{weights_text(stored.weights)}; store them for every consumer and the dashboard with "
            f"`classpulse db upgrade --engagement-weights {weights_text(given)}`, or leave "
            "ENGAGEMENT_WEIGHTS unset here"
        )


def weights_text(weights: Mapping[str, float]) -> str:
    """The weights as ENGAGEMENT_WEIGHTS (and ``--engagement-weights``) take them, so what a line
    shows can be given back as it is."""
    return ",".join(f"{e}={weights[e]:g}" for e in EMOTIONS)
