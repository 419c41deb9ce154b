"""A PostgreSQL role for analysts: the shown minutes and the rollups, nothing the rule hides.

Analysts query the database with SQL. The owner of ClassPulse's tables (the user that runs
``classpulse db upgrade``) reads every minute, hidden ones too, and so do the dashboard's and the
consumers' roles (:mod:`classpulse.db.roles`); the role ``classpulse db grant-reader ROLE``
prepares reads only :data:`READABLE`. PostgreSQL reads a view's tables with the rights of the
view's owner, so SELECT on ``shown_class_minutes`` needs no right on ``class_minutes`` or
``emotion_minutes``: the role gets none, and any it held on ClassPulse's other tables, views and
sequences is taken back, so running the command again changes nothing and tightens a role granted
more by hand. Tables a later migration creates are readable by nobody but their owner until
granted (nothing in ClassPulse alters default privileges); the command refuses a role that default
privileges would give them. The grant itself is :func:`classpulse.db.roles.grant` with
:data:`~classpulse.db.roles.READER`, shared with the services' roles.

SQLite has no roles: whoever can read its file reads every minute.
"""

from __future__ import annotations

from dataclasses import dataclass

from classpulse.db.roles import READABLE, READER, classpulse_relations, grant

__all__ = ["READABLE", "ReaderGrant", "classpulse_relations", "grant_reader"]


@dataclass(frozen=True)
class ReaderGrant:
    """What ``grant-reader`` left the role: SELECT on ``readable`` in ``schema``, and the
    privileges it held before and no longer holds (``"SELECT on emotion_minutes"``)."""

    role: str
    schema: str
    readable: tuple[str, ...]
    taken_back: tuple[str, ...]


def grant_reader(url: str, role: str) -> ReaderGrant:
    """Give the existing PostgreSQL ``role`` SELECT on :data:`READABLE` and take back every other
    privilege it holds on ClassPulse's tables, views and sequences, in one transaction; refused as
    :func:`classpulse.db.roles.grant` refuses, with nothing changed."""
    done = grant(url, role, READER)
    return ReaderGrant(done.role, done.schema, READABLE, done.taken_back)
