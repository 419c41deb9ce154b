"""``emotion_minutes``: per camera, UTC minute and classroom, counts and sums of what the consumer
saw. The classroom is in the key (migration 0010) so a camera moved to another classroom within a
minute has each classroom's frames counted for that classroom.

Only counts and sums are stored, never a frame or a face, so rows from several consumer flushes can
be added together (the write is an additive upsert) and any mean can be recomputed exactly:
a minute's engagement is ``engagement_sum / faces_read``, an emotion's share
``n_<emotion> / faces_read``: emotions, probabilities and engagement cover only the faces the
consumer's readability gate passed (migration 0008); ``faces`` counts every face in view, and the
``refused_*`` columns count the others by reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Double, ForeignKey, Index, Integer, Text, false, func
from sqlalchemy.orm import Mapped, mapped_column

from classpulse.db.base import Base, UTCDateTime


class EmotionMinute(Base):
    """One camera's aggregate over one minute (``minute_start`` in UTC, seconds zero) of the frames
    it sent for one classroom."""

    __tablename__ = "emotion_minutes"
    __table_args__ = (
        # The dashboard and the class-level views read one classroom over a time range; on
        # PostgreSQL the summed columns ride along so those reads are index-only (migration 0003).
        Index("ix_emotion_minutes_classroom_id_minute_start", "classroom_id", "minute_start",
              postgresql_include=["camera_id", "revised", "frames_with_faces", "faces",
                                  "engagement_sum", "n_angry", "n_disgust", "n_fear", "n_happy",
                                  "n_sad", "n_surprise", "n_neutral", "faces_read",
                                  "frames_with_read_faces", "refused_small", "refused_turned",
                                  "refused_uncertain"]),
        # "All classrooms in the last hour" and retention deletes read by time alone.
        Index("ix_emotion_minutes_minute_start", "minute_start"),
    )

    camera_id: Mapped[str] = mapped_column(
        Text, ForeignKey("cameras.id"), primary_key=True
    )
    minute_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    classroom_id: Mapped[str] = mapped_column(Text, ForeignKey("classrooms.id"), primary_key=True)
    frames: Mapped[int] = mapped_column(Integer)
    frames_with_faces: Mapped[int] = mapped_column(Integer)
    faces: Mapped[int] = mapped_column(Integer)
    # the readability gate (migration 0008): faces read, frames with one, faces refused per reason
    faces_read: Mapped[int] = mapped_column(Integer, server_default="0")
    frames_with_read_faces: Mapped[int] = mapped_column(Integer, server_default="0")
    refused_small: Mapped[int] = mapped_column(Integer, server_default="0")
    refused_turned: Mapped[int] = mapped_column(Integer, server_default="0")
    refused_uncertain: Mapped[int] = mapped_column(Integer, server_default="0")
    # read faces whose top class was each emotion (EMOTIONS order)
    n_angry: Mapped[int] = mapped_column(Integer)
    n_disgust: Mapped[int] = mapped_column(Integer)
    n_fear: Mapped[int] = mapped_column(Integer)
    n_happy: Mapped[int] = mapped_column(Integer)
    n_sad: Mapped[int] = mapped_column(Integer)
    n_surprise: Mapped[int] = mapped_column(Integer)
    n_neutral: Mapped[int] = mapped_column(Integer)
    # sums of each emotion's probability over the minute's read faces
    p_angry: Mapped[float] = mapped_column(Double)
    p_disgust: Mapped[float] = mapped_column(Double)
    p_fear: Mapped[float] = mapped_column(Double)
    p_happy: Mapped[float] = mapped_column(Double)
    p_sad: Mapped[float] = mapped_column(Double)
    p_surprise: Mapped[float] = mapped_column(Double)
    p_neutral: Mapped[float] = mapped_column(Double)
    engagement_sum: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    # added to after it closed, so hidden for good: two readings of it would differ by the late
    # counts (migration 0017; classpulse.db.writes.add_minute_rows sets it)
    revised: Mapped[bool] = mapped_column(Boolean, server_default=false())
