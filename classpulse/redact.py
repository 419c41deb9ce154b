"""Passwords out of URLs before a URL reaches a message or a log line: database URLs and camera
stream URLs (rtsp://user:password@host/...) alike, by one rule."""

from __future__ import annotations


def hide_password(url: str) -> str:
    """``url`` with the password of ``scheme://user:password@...`` replaced by ``***``; anything
    else (a file path, a URL without a password) as it is.

    Everything up to the LAST ``@`` counts as the credentials, so a password holding an
    unencoded ``@`` is hidden whole (SQLAlchemy's own rendering shows what follows that ``@``);
    an ``@`` later in the path then hides the host as well, which is the safe side.
    """
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    if not sep or not at or not colon or "/" in user:
        return url
    return f"{scheme}{sep}{user}:***@{host}"
