"""Engines as every part gets them: PostgreSQL's statement timeout for consumers and its TCP
settings, on top of what the URL itself asks for."""

from __future__ import annotations

import os
import socket
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


@pytest.mark.postgres
def test_connections_notice_a_server_gone_silent_within_seconds(
        pg_database: Callable[[], str]) -> None:
    """A host powered off, or a firewall dropping packets, leaves a connection half-open: without
    TCP keepalives and a user timeout a statement or the pool's ping on it waits for many minutes
    (a consumer's heartbeats with it). The kernel holds libpq's settings on the socket itself;
    a setting the URL gives is kept."""
    engine = make_engine(pg_database() + "?keepalives_idle=30")
    try:
        raw = engine.raw_connection()
        try:
            sock = socket.socket(fileno=os.dup(raw.driver_connection.pgconn.socket))
            try:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert [sock.getsockopt(socket.IPPROTO_TCP, option) for option in (
                    socket.TCP_KEEPIDLE, socket.TCP_KEEPINTVL, socket.TCP_KEEPCNT,
                    socket.TCP_USER_TIMEOUT)] == [30, 2, 3, 10_000]
            finally:
                sock.close()
        finally:
            raw.close()
    finally:
        engine.dispose()
