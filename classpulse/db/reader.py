"""A PostgreSQL role for analysts: the shown minutes and the rollups, nothing the rule hides.

Analysts query the database with SQL. The owner of ClassPulse's tables (the user that runs
``classpulse db upgrade``, the consumers and the dashboard) reads every minute, hidden ones too;
the role ``classpulse db grant-reader ROLE`` prepares reads only :data:`READABLE`. PostgreSQL
reads a view's tables with the rights of the view's owner, so SELECT on ``shown_class_minutes``
needs no right on ``class_minutes`` or ``emotion_minutes``: the role gets none, and any it held on
ClassPulse's other tables and views is taken back, so running the command again changes nothing
and tightens a role granted more by hand. Tables a later migration creates are readable by nobody
but their owner until granted (nothing in ClassPulse alters default privileges); the command
refuses a role that default privileges would give them.

SQLite has no roles: whoever can read its file reads every minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from classpulse.db.engine import failure_reason, make_engine, parse_url
from classpulse.errors import UsageError
from classpulse.redact import hide_password

# What the role may SELECT, and why each is safe. Rows of shown minutes only (0013); sums over
# shown minutes, the hidden ones only counted (0006, 0007, 0011); names, time zones and the
# timetable, nothing per minute; the rule and the weights the numbers follow.
READABLE: tuple[str, ...] = (
    "shown_camera_minutes", "shown_class_minutes",
    "class_days", "class_hour_of_week", "lesson_summaries",
    "classrooms", "cameras", "lessons",
    "small_group_rule", "engagement_weights",
)
CREATE_ROLE = "CREATE ROLE {role} LOGIN PASSWORD '...'"
# ClassPulse's relations (``:names``) in the schema the connection uses, as ``c``
_RELATIONS = ("pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
              "AND n.nspname = current_schema() AND c.relname = ANY(:names)")


@dataclass(frozen=True)
class ReaderGrant:
    """What ``grant-reader`` left the role: SELECT on ``readable`` in ``schema``, and the
    privileges it held before and no longer holds (``"SELECT on emotion_minutes"``)."""

    role: str
    schema: str
    readable: tuple[str, ...]
    taken_back: tuple[str, ...]


def classpulse_relations() -> tuple[str, ...]:
    """Every table and view of ClassPulse's schema at the newest revision, sorted (a test checks
    this against a migrated database)."""
    import classpulse.db.models  # noqa: F401  (fills Base.metadata)
    from classpulse.db.base import Base
    from classpulse.db.views import VIEWS

    return tuple(sorted({*Base.metadata.tables, "alembic_version", *(v.name for v in VIEWS)}))


def grant_reader(url: str, role: str) -> ReaderGrant:
    """Give the existing PostgreSQL ``role`` SELECT on :data:`READABLE` and take back every other
    privilege it holds on ClassPulse's tables and views, in one transaction.

    Refused, as one :class:`UsageError` and with nothing changed: SQLite, a database not at the
    newest revision, a role that does not exist, a superuser or a role of the tables' owner, a
    connection that does not own the tables (PostgreSQL would only warn and grant nothing), and a
    role that would still read or change what it must not, through a role it belongs to, a grant
    to PUBLIC or default privileges on tables created later.
    """
    shown = hide_password(url)
    if parse_url(url).get_backend_name() == "sqlite":
        raise UsageError(
            f"roles are PostgreSQL's; on SQLite whoever can read the file reads everything "
            f"({shown}): give analysts a PostgreSQL database, or no copy of the file"
        )
    _require_head(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            return _grant(conn, role)
    except DBAPIError as exc:
        raise UsageError(
            f"cannot grant on {shown}: {failure_reason(exc)}; connect as the owner of ClassPulse's "
            "tables (the user that runs `classpulse db upgrade`)"
        ) from None
    finally:
        engine.dispose()


def _require_head(url: str) -> None:
    from classpulse.db.migrate import head_revision, require_migrated

    revision, head = require_migrated(url), head_revision()
    if revision != head:
        raise UsageError(
            f"database {hide_password(url)} is at revision {revision}, not {head}, the one this "
            "ClassPulse grants on; run `classpulse db upgrade` first (same DATABASE_URL / "
            "--database-url)"
        )


def _grant(conn: Connection, role: str) -> ReaderGrant:
    quote = conn.dialect.identifier_preparer.quote_identifier
    relations = classpulse_relations()
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    role_oid = _check_role(conn, role, relations)
    held = _held(conn, role_oid, relations)
    # identifiers cannot be bound parameters: quoted (always, quotes inside doubled) and sent to
    # the driver as they are, since text() would read a ":" in a role name as a parameter
    tables = ", ".join(quote(name) for name in relations)
    conn.exec_driver_sql(f"REVOKE ALL ON TABLE {tables} FROM {quote(role)}")
    # USAGE only: a reader that may CREATE in the schema could plant a function or an operator
    # that the owner's unqualified queries pick up
    creates = conn.execute(text("SELECT has_schema_privilege(:oid, :schema, 'CREATE')"),
                           {"oid": role_oid, "schema": schema}).scalar_one()
    conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {quote(schema)} FROM {quote(role)}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {quote(schema)} TO {quote(role)}")
    readable = ", ".join(quote(name) for name in READABLE)
    conn.exec_driver_sql(f"GRANT SELECT ON TABLE {readable} TO {quote(role)}")
    _check_nothing_left(conn, role, role_oid, relations)
    kept = {f"SELECT on {name}" for name in READABLE}
    taken_back = tuple(p for p in held if p not in kept) + ((f"CREATE on schema {schema}",)
                                                            if creates else ())
    return ReaderGrant(role, schema, READABLE, taken_back)


def _check_role(conn: Connection, role: str, relations: Sequence[str]) -> int:
    """The role's oid, once it is known to be a role of its own the connected user may grant to."""
    quoted = conn.dialect.identifier_preparer.quote(role)
    found = conn.execute(text("SELECT oid, rolsuper FROM pg_roles WHERE rolname = :role"),
                         {"role": role}).one_or_none()
    if found is None:
        raise UsageError(
            f"PostgreSQL role {role!r} does not exist; create it first "
            f"({CREATE_ROLE.format(role=quoted)}), then run this again"
        )
    if found.rolsuper:
        raise UsageError(
            f"role {role!r} is a superuser, which reads every table whatever is granted; give "
            f"analysts a role of their own ({CREATE_ROLE.format(role='analyst')})"
        )
    owners = conn.execute(text(
        "SELECT DISTINCT pg_get_userbyid(c.relowner) AS owner, "
        "pg_has_role(current_user, c.relowner, 'USAGE') AS mine, "
        "pg_has_role(:role, c.relowner, 'MEMBER') AS theirs "
        f"FROM {_RELATIONS}"), {"role": role, "names": list(relations)}).all()
    if any(o.theirs for o in owners):
        raise UsageError(
            f"role {role!r} owns ClassPulse's tables or belongs to their owner "
            f"({', '.join(sorted(o.owner for o in owners))}), so it reads everything; give "
            f"analysts a role of their own ({CREATE_ROLE.format(role='analyst')})"
        )
    if not all(o.mine for o in owners):
        user = conn.execute(text("SELECT current_user")).scalar_one()
        raise UsageError(
            f"connected as {user}, which does not own ClassPulse's tables (owner: "
            f"{', '.join(sorted(o.owner for o in owners))}) and so cannot grant or revoke on "
            "them; connect as the owner (the user that runs `classpulse db upgrade`)"
        )
    return int(found.oid)


def _held(conn: Connection, role_oid: int, relations: Sequence[str]) -> tuple[str, ...]:
    """The privileges granted to the role itself on ``relations``, tables' and columns'."""
    rows = conn.execute(text(
        "SELECT a.privilege_type || ' on ' || c.relname AS held "
        f"FROM {_RELATIONS} CROSS JOIN LATERAL aclexplode(c.relacl) AS a WHERE a.grantee = :oid "
        "UNION "
        "SELECT a.privilege_type || ' (' || t.attname || ') on ' || c.relname "
        f"FROM {_RELATIONS} JOIN pg_attribute AS t ON t.attrelid = c.oid "
        "CROSS JOIN LATERAL aclexplode(t.attacl) AS a WHERE a.grantee = :oid"),
        {"oid": role_oid, "names": list(relations)})
    return tuple(sorted(rows.scalars()))


def _check_nothing_left(conn: Connection, role: str, role_oid: int,
                        relations: Sequence[str]) -> None:
    """After the revoke: privileges the role holds other than by its own grants (a role it belongs
    to, PUBLIC) or would get on tables created later refuse the whole command."""
    left = conn.execute(text(
        f"SELECT c.relname FROM {_RELATIONS} "
        "WHERE (c.relname <> ALL(:readable) AND has_any_column_privilege(:role, c.oid, 'SELECT')) "
        "OR has_any_column_privilege(:role, c.oid, 'INSERT, UPDATE, REFERENCES') "
        "OR has_table_privilege(:role, c.oid, 'DELETE, TRUNCATE, TRIGGER') ORDER BY c.relname"),
        {"role": role, "readable": list(READABLE), "names": list(relations)}).scalars().all()
    if conn.execute(text("SELECT has_schema_privilege(:oid, current_schema(), 'CREATE')"),
                    {"oid": role_oid}).scalar_one():
        left = [*left, "the schema (CREATE)"]
    if left:
        member_of = conn.execute(text(
            "SELECT string_agg(pg_get_userbyid(m.roleid), ', ' ORDER BY m.roleid) "
            "FROM pg_auth_members AS m WHERE m.member = :oid"), {"oid": role_oid}).scalar()
        raise UsageError(
            f"role {role!r} could still read or change {', '.join(left)} after the revoke, "
            f"through a role it belongs to ({member_of or 'none'}) or a grant to PUBLIC; revoke "
            "that, then run this again (nothing was changed)"
        )
    later = conn.execute(text(
        "SELECT pg_get_userbyid(d.defaclrole) AS definer, "
        "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE :role END AS grantee "
        "FROM pg_default_acl AS d CROSS JOIN LATERAL aclexplode(d.defaclacl) AS a "
        "WHERE d.defaclobjtype = 'r' AND a.grantee IN (0, :oid) AND d.defaclnamespace IN "
        "(0, (SELECT oid FROM pg_namespace WHERE nspname = current_schema())) "
        "ORDER BY 1, 2 LIMIT 1"), {"role": role, "oid": role_oid}).one_or_none()
    if later is not None:
        quote = conn.dialect.identifier_preparer.quote
        grantee = later.grantee if later.grantee == "PUBLIC" else quote(later.grantee)
        raise UsageError(
            f"default privileges of role {later.definer!r} give {later.grantee!r} the tables it "
            "creates later (a new migration's too); revoke them (ALTER DEFAULT PRIVILEGES FOR "
            f"ROLE {quote(later.definer)} [IN SCHEMA ...] REVOKE ALL ON TABLES FROM {grantee}), "
            "then run this again (nothing was changed)"
        )
