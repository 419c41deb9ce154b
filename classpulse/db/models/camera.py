"""``cameras``: one row per camera id seen on the wire, tied to the classroom it reported."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from classpulse.db.base import Base


class Camera(Base):
    """A camera. Registered on first sight with ``name`` = id; operators may rename or move it.

    Moving a camera to another classroom does not rewrite history: each ``emotion_minutes`` row
    keeps the classroom the camera reported at the time.
    """

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    classroom_id: Mapped[str] = mapped_column(
        Text, ForeignKey("classrooms.id"), index=True
    )
    name: Mapped[str] = mapped_column(Text)
