"""Helpers for the tests of PostgreSQL roles (grant-reader, grant-app, upgrade --app-roles): what a
role holds, and whether a statement run as it is refused for want of a privilege."""

from __future__ import annotations

from psycopg.errors import InsufficientPrivilege
from sqlalchemy import Engine, text
from sqlalchemy.exc import ProgrammingError


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def denied(engine: Engine, statement: str) -> bool:
    """Whether ``statement`` fails, run on ``engine``, for want of a privilege (any other outcome,
    success or another error, is False)."""
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except ProgrammingError as exc:
        return isinstance(exc.orig, InsufficientPrivilege)
    return False


def privileges(engine: Engine, role: str) -> list[tuple[str, str]]:
    """Every privilege granted to ``role`` itself in the database, on tables, views and sequences
    (``relation``) and on columns (``relation.column``)."""
    grantee = "(SELECT oid FROM pg_roles WHERE rolname = :role)"
    with engine.connect() as conn:
        return sorted(conn.execute(text(
            "SELECT c.relname, a.privilege_type FROM pg_class AS c "
            f"CROSS JOIN LATERAL aclexplode(c.relacl) AS a WHERE a.grantee = {grantee} "
            "UNION ALL SELECT c.relname || '.' || t.attname, a.privilege_type FROM pg_class AS c "
            "JOIN pg_attribute AS t ON t.attrelid = c.oid "
            f"CROSS JOIN LATERAL aclexplode(t.attacl) AS a WHERE a.grantee = {grantee}"),
            {"role": role}).all())
