"""Engines as every part gets them: PostgreSQL's statement timeout for consumers, on top of what
the URL itself asks for."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from classpulse.db.engine import make_engine


@pytest.mark.postgres
def test_a_statement_timeout_keeps_the_url_s_own_options(pg_database: Callable[[], str]) -> None:
    url = pg_database() + "?options=-csearch_path%3Dpg_catalog"
    engine = make_engine(url, statement_timeout_s=2.5)
    plain = make_engine(url)
    try:
        for _ in range(2):  # a pooled connection keeps it after a rolled-back transaction
            with engine.connect() as conn:
                assert conn.execute(text("show statement_timeout")).scalar_one() == "2500ms"
                assert conn.execute(text("show search_path")).scalar_one() == "pg_catalog"
                conn.rollback()
        with plain.connect() as conn:
            assert conn.execute(text("show statement_timeout")).scalar_one() == "0"
    finally:
        engine.dispose()
        plain.dispose()
