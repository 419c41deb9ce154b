"""``classpulse db upgrade`` and ``classpulse db current``: the schema, from the command line.

Only argparse here; Alembic and SQLAlchemy are imported inside the handlers so ``classpulse --help``
stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

from classpulse.settings import Settings


def register(subparsers: Any) -> None:
    """Add the ``db`` command and its ``upgrade`` and ``current`` actions."""
    db = subparsers.add_parser(
        "db", help="database schema: migrate to the newest revision, show the current one"
    )
    actions = db.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade", help="migrate DATABASE_URL to the newest schema (safe to run again)"
    )
    upgrade.add_argument("--revision", default="head",
                         help="target revision (default: head, the newest)")
    upgrade.set_defaults(handler=run_upgrade)
    current = actions.add_parser("current", help="print the revision DATABASE_URL is at")
    current.set_defaults(handler=run_current)


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.engine import redact_url
    from classpulse.db.migrate import current, upgrade

    upgrade(settings.database_url, args.revision)
    print(f"{redact_url(settings.database_url)} is at revision {current(settings.database_url)}")
    return 0


def run_current(args: argparse.Namespace, settings: Settings) -> int:
    from classpulse.db.migrate import current, head_revision

    revision = current(settings.database_url)
    if revision is None:
        print("not migrated (run: classpulse db upgrade)")
        return 1
    note = "" if revision == head_revision() else f" (newest is {head_revision()}; run upgrade)"
    print(f"{revision}{note}")
    return 0
