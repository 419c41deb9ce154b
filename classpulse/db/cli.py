"""``classpulse db upgrade``, ``db current`` and ``db grant-reader``: the schema, from the command
line.

``db upgrade`` also stores ``MIN_FACES_SHOWN`` (``--min-faces-shown`` or the environment), when
given, as the small-group rule every reader of the database follows (:mod:`classpulse.db.rule`).
``db grant-reader ROLE`` lets a PostgreSQL role read the shown minutes and nothing the rule hides
(:mod:`classpulse.db.reader`).

Only argparse here; Alembic and SQLAlchemy are imported inside the handlers so ``classpulse --help``
stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from classpulse.flags import positive_int
from classpulse.settings import Settings, SettingsError, parse_weights


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``db`` command and its ``upgrade``, ``current`` and ``grant-reader`` actions."""
    db = subparsers.add_parser(
        "db", help="database schema: migrate to the newest revision, show the current one, "
        "prepare a role for analysts"
    )
    actions = db.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade", help="migrate DATABASE_URL to the newest schema (safe to run again)"
    )
    upgrade.add_argument("--revision", default="head",
                         help="target revision (default: head, the newest)")
    upgrade.add_argument("--min-faces-shown", dest="min_faces_shown", type=positive_int,
                         default=None,
                         help="store this small-group threshold (MIN_FACES_SHOWN): minutes in "
                         "which no camera read at least this many faces per frame on average are "
                         "hidden everywhere; default: keep the stored one "
                         f"({Settings.min_faces_shown} in a new database)")
    upgrade.add_argument("--engagement-weights", dest="engagement_weights", type=_weights,
                         default=None, metavar="EMOTION=W,...",
                         help="store the weights every consumer scores engagement with "
                         "(ENGAGEMENT_WEIGHTS, e.g. neutral=0.8,happy=0.7; unnamed emotions keep "
                         "their default): consumers pick them up after their next flush, minutes "
                         "counted before keep theirs; default: keep the stored ones")
    upgrade.set_defaults(handler=run_upgrade)
    current = actions.add_parser("current", help="print the revision DATABASE_URL is at")
    current.set_defaults(handler=run_current)
    reader = actions.add_parser(
        "grant-reader",
        help="let an existing PostgreSQL role read the shown minutes, the rollups and the "
        "timetable, and nothing the small-group rule hides (revokes all else; safe to run again)",
    )
    reader.add_argument("role", metavar="ROLE", help="the role, created beforehand "
                        "(CREATE ROLE analyst LOGIN PASSWORD ...)")
    reader.set_defaults(handler=run_grant_reader)


def _weights(text: str) -> Mapping[str, float]:
    try:
        return parse_weights(text)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.migrate import current, engagement_weights, min_faces, upgrade
    from classpulse.db.rule import requested_min_faces
    from classpulse.db.weights import requested_weights, weights_text
    from classpulse.redact import hide_password

    url = settings.database_url
    upgrade(url, args.revision, requested_min_faces(settings), requested_weights(settings))
    revision = current(url)
    print(f"{hide_password(url)} is at revision {revision}")
    threshold = min_faces(url)
    if threshold is not None:
        print(f"small-group rule: minutes in which no camera read at least {threshold} faces "
              "per frame on average are hidden (MIN_FACES_SHOWN)")
    weights = engagement_weights(url)
    if weights is not None:
        print(f"engagement weights: {weights_text(weights)} (ENGAGEMENT_WEIGHTS)")
    return 0


def run_current(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.migrate import current, head_revision, require_existing_file

    require_existing_file(settings.database_url)
    revision = current(settings.database_url)
    if revision is None:
        print("not migrated (run: classpulse db upgrade)")
        return 1
    note = "" if revision == head_revision() else f" (newest is {head_revision()}; run upgrade)"
    print(f"{revision}{note}")
    return 0


def run_grant_reader(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.reader import grant_reader

    done = grant_reader(settings.database_url, args.role)
    print(f"role {done.role} may read, with USAGE on schema {done.schema}: SELECT on "
          f"{', '.join(done.readable)}")
    taken = "; ".join(done.taken_back) if done.taken_back else "nothing else was held"
    print(f"revoked from role {done.role} every other privilege on ClassPulse's tables and "
          f"views: {taken}")
    return 0
