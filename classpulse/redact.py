"""Passwords out of URLs before a URL reaches a message or a log line: database URLs, libpq
keyword/value strings and camera stream URLs (rtsp://user:password@host/...) alike, by one rule."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

# a URL's scheme and the slashes after it; a mistyped URL (`rtsp:/admin:pw@...`, one slash;
# `postgresql//alice:pw@...`, no colon) carries the password just the same, so zero to three
# slashes count, and two without the colon
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*(?::/{0,3}|//)")
# names of query parameters (and libpq keywords) that carry a secret, matched whole after
# percent-decoding, in any case, so `PassWord` and `pass%77ord` count: libpq's (and SQLAlchemy's,
# which hands them on) `password` and `sslpassword`; cameras' `?password=`, `?pwd=` (Foscam),
# `?pass=`, `?passwd=`, `?auth=`; tokens and keys of web streams (`?token=`, `?access_token=`,
# `?secret=`, `?client_secret=`, `?api_key=`, `?apikey=`, `?key=`, `?pw=`); signed URLs' signatures
# and credentials (`?sig=` of Azure SAS, `X-Amz-Signature`, `X-Amz-Credential`). `passfile`,
# `sslkey` and the like name files, not secrets, and stay readable.
_SECRET_KEY = re.compile(
    r"pass|pwd|pw|auth|key|sig|.*(?:password|passwd|token|secret|api[-_]?key|signature|credential)",
    re.IGNORECASE)
# one `keyword = value` of a libpq connection string; a value is a word, or quoted with `\'` and
# `\\` escapes (an unclosed quote runs to the end: hidden whole)
_KEYWORD_VALUE = re.compile(
    r"(?P<key>(?:^|(?<=\s))[A-Za-z_][A-Za-z0-9_-]*\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'?|\S*)",
    re.DOTALL)


def hide_password(url: str) -> str:
    """``url`` with its secrets replaced by ``***``: the password of ``scheme://user:password@...``
    and the value of every query parameter named for a secret (:data:`_SECRET_KEY`); in a libpq
    keyword/value string (``host=db password=...``), the value of every such keyword. Anything
    else (a file path, a URL without a password) as it is.

    Everything up to the LAST ``@`` counts as the credentials, so a password holding an
    unencoded ``@`` is hidden whole (SQLAlchemy's own rendering shows what follows that ``@``);
    an ``@`` later in the path then hides the host as well, which is the safe side. The query is
    masked first, so an ``@`` inside a query password is not taken for the credentials' end. A
    URL whose scheme was forgotten (``alice:pw@db/cp``) reads as a scheme and a password.
    """
    scheme = _SCHEME.match(url)
    if scheme is None:
        return _hide_keyword_secrets(url)
    rest = _hide_query_secrets(url[scheme.end():])
    credentials, at, host = rest.rpartition("@")
    # a forgotten scheme: `alice:pw@db/cp` matched `alice:` as one; a Windows path such as
    # `C:\x@y.mp4` holds a backslash, and stays as it is
    if at and not scheme[0].endswith("/") and not any(c in credentials for c in ":/\\"):
        return f"{scheme[0]}***@{host}"
    user, colon, _ = credentials.partition(":")
    if not at or not colon or "/" in user:
        return f"{scheme[0]}{rest}"
    return f"{scheme[0]}{user}:***@{host}"


def _is_secret(key: str) -> bool:
    return _SECRET_KEY.fullmatch(unquote_plus(key).strip()) is not None


def _hide_query_secrets(rest: str) -> str:
    """``rest`` (a URL after its scheme) with secret query values masked. A value runs to the
    next ``&``, a ``#`` included: SQLAlchemy reads ``?password=a#b`` as the password ``a#b``."""
    path, question, query = rest.partition("?")
    if not question:
        return rest
    items = []
    for item in query.split("&"):
        key, equals, _ = item.partition("=")
        if equals and _is_secret(key):
            item = f"{key}=***"
        items.append(item)
    return f"{path}?{'&'.join(items)}"


def _hide_keyword_secrets(text: str) -> str:
    """``text`` with the values of secret keywords masked, as libpq reads ``key = value``."""
    def mask(match: re.Match[str]) -> str:
        key = match["key"].rstrip().rstrip("=").rstrip()
        return f"{match['key']}***" if _is_secret(key) else match[0]

    return _KEYWORD_VALUE.sub(mask, text)
