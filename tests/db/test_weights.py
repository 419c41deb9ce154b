"""The engagement weights the database holds (migration 0012): one row, stored and read whole."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from classpulse.db.weights import check_consumer_weights, load_weights, store_weights
from classpulse.emotions import DEFAULT_ENGAGEMENT_WEIGHTS
from classpulse.errors import UsageError
from classpulse.settings import Settings


def test_a_new_database_holds_the_default_weights(db: Engine) -> None:
    with db.connect() as conn:
        stored = load_weights(conn)
    assert dict(stored.weights) == dict(DEFAULT_ENGAGEMENT_WEIGHTS)
    assert stored.updated_at.tzinfo is not None
    assert abs((datetime.now(timezone.utc) - stored.updated_at).total_seconds()) < 3600


def test_stored_weights_replace_the_row_and_its_time_only_when_they_change(db: Engine) -> None:
    """The page says since when the weights apply: storing the same ones again (compose's
    migrate does at every `up`) must not move that time."""
    long_ago = "2020-01-01 00:00:00+00:00"
    with db.begin() as conn:
        conn.execute(text("update engagement_weights set updated_at = :t"), {"t": long_ago})
        store_weights(conn, DEFAULT_ENGAGEMENT_WEIGHTS)
    with db.connect() as conn:
        assert load_weights(conn).updated_at == datetime(2020, 1, 1, tzinfo=timezone.utc)
    with db.begin() as conn:
        store_weights(conn, {**DEFAULT_ENGAGEMENT_WEIGHTS, "happy": 1.0, "neutral": 0.5})
    with db.connect() as conn:
        stored = load_weights(conn)
        rows = conn.execute(text("select count(*) from engagement_weights")).scalar_one()
    assert rows == 1
    assert stored.weights["happy"] == 1.0 and stored.weights["neutral"] == 0.5
    assert stored.weights["sad"] == DEFAULT_ENGAGEMENT_WEIGHTS["sad"]
    assert stored.updated_at > datetime(2020, 1, 2, tzinfo=timezone.utc)


def test_a_missing_row_is_named_and_storing_recreates_it(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(text("delete from engagement_weights"))
    with db.connect() as conn, pytest.raises(UsageError, match="holds no engagement weights"):
        load_weights(conn)
    with db.begin() as conn:
        store_weights(conn, DEFAULT_ENGAGEMENT_WEIGHTS)
    with db.connect() as conn:
        assert dict(load_weights(conn).weights) == dict(DEFAULT_ENGAGEMENT_WEIGHTS)


def test_the_database_refuses_a_weight_outside_0_1_and_a_second_row(db: Engine) -> None:
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(text("update engagement_weights set w_happy = 1.5"))
    columns = ", ".join(f"w_{e}" for e in DEFAULT_ENGAGEMENT_WEIGHTS)
    with pytest.raises(IntegrityError), db.begin() as conn:
        conn.execute(text(f"insert into engagement_weights (id, {columns}) "
                          "values (2, 0, 0, 0, 0, 0, 0, 0)"))


def test_a_consumer_may_repeat_the_databases_weights_but_not_contradict_them(db: Engine) -> None:
    with db.connect() as conn:
        stored = load_weights(conn)
    check_consumer_weights(Settings(), stored)  # defaulted: the database's apply
    same = Settings.load({}, {"ENGAGEMENT_WEIGHTS": "neutral=0.9"})
    check_consumer_weights(same, stored)
    other = Settings.load({}, {"ENGAGEMENT_WEIGHTS": "neutral=0.8"})
    with pytest.raises(UsageError, match=r"neutral=0\.8 differ from the database's"):
        check_consumer_weights(other, stored)
