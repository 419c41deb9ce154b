"""One rule hides the password of every URL ClassPulse prints: databases and camera streams."""

from __future__ import annotations

import pytest

from classpulse.redact import hide_password


@pytest.mark.parametrize(("url", "shown"), [
    ("rtsp://admin:s3cret@10.0.0.5:554/live", "rtsp://admin:***@10.0.0.5:554/live"),
    ("postgresql+psycopg://app:pw@db:5432/classpulse", "postgresql+psycopg://app:***@db:5432/classpulse"),
    ("rtsp://u:p@ss@cam:554/h264?channel=1", "rtsp://u:***@cam:554/h264?channel=1"),  # @ in it
    ("postgresql://app@db/classpulse", "postgresql://app@db/classpulse"),  # no password
    ("rtsp://10.0.0.5/live", "rtsp://10.0.0.5/live"),
    ("rtsp://cam/path/a@b", "rtsp://cam/path/a@b"),  # an @ in the path, no credentials
    ("/videos/a:b@c.mp4", "/videos/a:b@c.mp4"),  # a file
    ("sqlite:///classpulse.db", "sqlite:///classpulse.db"),
    ("synthetic:classroom:1", "synthetic:classroom:1"),
    # mistyped stream URLs carry the password too
    ("rstp://admin:s3cret@10.0.0.5/live", "rstp://admin:***@10.0.0.5/live"),
    ("rtsp:/admin:s3cret@10.0.0.5/live", "rtsp:/admin:***@10.0.0.5/live"),
    ("rtsp:admin:s3cret@10.0.0.5/live", "rtsp:admin:***@10.0.0.5/live"),
    # a password in the query string (libpq and SQLAlchemy take one there), any case or encoding
    ("postgresql+psycopg://reader@db/classpulse?password=s3cret",
     "postgresql+psycopg://reader@db/classpulse?password=***"),
    ("postgresql+psycopg://reader@db/classpulse?sslmode=require&PassWord=s3cret&connect_timeout=5",
     "postgresql+psycopg://reader@db/classpulse?sslmode=require&PassWord=***&connect_timeout=5"),
    ("postgresql+psycopg://reader@db/c?pass%77ord=s3cret", "postgresql+psycopg://reader@db/c?pass%77ord=***"),
    ("postgresql+psycopg://reader@db:5432/c?password=p@ss", "postgresql+psycopg://reader@db:5432/c?password=***"),
    ("postgresql+psycopg://reader@db/c?password=s3cret#x", "postgresql+psycopg://reader@db/c?password=***"),
    ("postgresql://app:pw@db/c?sslpassword=s3cret&sslkey=/k.pem",
     "postgresql://app:***@db/c?sslpassword=***&sslkey=/k.pem"),
    ("rtsp://10.0.0.5/live?user=admin&password=s3cret", "rtsp://10.0.0.5/live?user=admin&password=***"),
    # files named in the query are not secrets
    ("postgresql+psycopg://reader@db/c?passfile=/run/pg.pass&sslrootcert=/ca.pem",
     "postgresql+psycopg://reader@db/c?passfile=/run/pg.pass&sslrootcert=/ca.pem"),
])
def test_only_the_password_is_hidden(url: str, shown: str) -> None:
    assert hide_password(url) == shown
    assert "s3cret" not in hide_password(url) and ":pw@" not in hide_password(url)
    assert "ss@" not in hide_password(url) and "p@ss" not in hide_password(url)
