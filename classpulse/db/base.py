"""The declarative base every table derives from, and the UTC timestamp type they share.

A fixed naming convention gives every constraint and index a predictable name, so Alembic can drop
or alter them later on PostgreSQL and SQLite alike (SQLite batch mode needs named constraints).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only accepts aware datetimes and always returns UTC.

    PostgreSQL stores ``timestamptz`` natively. SQLite has no time zones: SQLAlchemy writes the wall
    clock as text and drops the offset, so a Berlin-time value would silently shift by an hour. This
    type converts every value to UTC before it is written and marks values read back as UTC, so both
    dialects hold and return the same instants. A naive datetime is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} given; pass an aware UTC datetime "
                "(e.g. datetime(..., tzinfo=timezone.utc))"
            )
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Base of every ClassPulse table; its metadata is Alembic's migration target."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
