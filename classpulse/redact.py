"""Passwords out of URLs before a URL reaches a message or a log line: database URLs and camera
stream URLs (rtsp://user:password@host/...) alike, by one rule."""

from __future__ import annotations

import re

# a URL's scheme and the slashes after it; a mistyped source (`rtsp:/admin:pw@...`, one slash)
# carries the password just the same, so zero to three slashes count
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/{0,3}")


def hide_password(url: str) -> str:
    """``url`` with the password of ``scheme://user:password@...`` replaced by ``***``; anything
    else (a file path, a URL without a password) as it is.

    Everything up to the LAST ``@`` counts as the credentials, so a password holding an
    unencoded ``@`` is hidden whole (SQLAlchemy's own rendering shows what follows that ``@``);
    an ``@`` later in the path then hides the host as well, which is the safe side.
    """
    scheme = _SCHEME.match(url)
    if scheme is None:
        return url
    credentials, at, host = url[scheme.end():].rpartition("@")
    user, colon, _ = credentials.partition(":")
    if not at or not colon or "/" in user:
        return url
    return f"{scheme[0]}{user}:***@{host}"
