"""Passwords out of URLs before a URL reaches a message or a log line: database URLs and camera
stream URLs (rtsp://user:password@host/...) alike, by one rule."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

# a URL's scheme and the slashes after it; a mistyped source (`rtsp:/admin:pw@...`, one slash)
# carries the password just the same, so zero to three slashes count
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/{0,3}")
# query parameters that carry a secret: libpq's (and SQLAlchemy's, which hands them on) `password`
# and `sslpassword`, a camera's `?password=`; matched after percent-decoding, any case, so
# `PassWord` and `pass%77ord` count. `passfile`, `sslkey` and the like name files, not secrets,
# and stay readable.
_SECRET_KEY = "password"


def hide_password(url: str) -> str:
    """``url`` with the password of ``scheme://user:password@...`` and the value of every query
    parameter whose name ends in ``password`` replaced by ``***``; anything else (a file path, a
    URL without a password) as it is.

    Everything up to the LAST ``@`` counts as the credentials, so a password holding an
    unencoded ``@`` is hidden whole (SQLAlchemy's own rendering shows what follows that ``@``);
    an ``@`` later in the path then hides the host as well, which is the safe side. The query is
    masked first, so an ``@`` inside a query password is not taken for the credentials' end.
    """
    scheme = _SCHEME.match(url)
    if scheme is None:
        return url
    rest = _hide_query_passwords(url[scheme.end():])
    credentials, at, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    if not at or not colon or "/" in user:
        return f"{scheme[0]}{rest}"
    return f"{scheme[0]}{user}:***@{host}"


def _hide_query_passwords(rest: str) -> str:
    """``rest`` (a URL after its scheme) with secret query values masked. A value runs to the
    next ``&``, a ``#`` included: SQLAlchemy reads ``?password=a#b`` as the password ``a#b``."""
    path, question, query = rest.partition("?")
    if not question:
        return rest
    items = []
    for item in query.split("&"):
        key, equals, _ = item.partition("=")
        if equals and unquote_plus(key).strip().lower().endswith(_SECRET_KEY):
            item = f"{key}=***"
        items.append(item)
    return f"{path}?{'&'.join(items)}"
