"""``classrooms``: one row per classroom, registered the first time one of its cameras is seen."""

from __future__ import annotations

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from classpulse.db.base import Base


class Classroom(Base):
    """A classroom. ``name`` and ``timezone`` start as the id and ``UTC``; operators edit them.

    ``timezone`` is an IANA name (``Europe/Berlin``); the PostgreSQL views use it to cut local days
    and lesson hours. On PostgreSQL the migration adds a check that refuses a name the server does
    not know, so one typo cannot break every day-level query.
    """

    __tablename__ = "classrooms"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text, server_default="UTC")
