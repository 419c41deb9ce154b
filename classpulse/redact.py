"""Passwords out of URLs before a URL reaches a message or a log line: database URLs, libpq
keyword/value strings and camera stream URLs (rtsp://user:password@host/...) alike, by one rule."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

# a URL's scheme and its slashes, wherever it starts: after the text's opening spaces or quotes
# (`' rtsp://...'`, a value quoted twice in YAML), after `=` or inside a longer line. Two or more
# slashes count (`rtsp:////admin:pw@...` carries the password just the same); a one-letter
# "scheme" is a Windows drive (`C:/videos`)
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]+:/{2,}")
# a mistyped URL at the start of the text: one slash (`rtsp:/admin:pw@...`), none
# (`rtsp:admin:pw@...`, or a forgotten scheme: `alice:pw@db/cp`), or two without the colon
# (`postgresql//alice:pw@...`)
_LOOSE_SCHEME = re.compile(r"[\s\"']*(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*(?::/*|//))")
# names of parameters (and libpq keywords) that carry a secret, matched whole after
# percent-decoding, in any case, so `PassWord` and `pass%77ord` count, and matched again on the
# last part of a name joined by `-` or `_` (`stream_key`; not `auth`: libpq's `require_auth`
# names a method, not a secret): libpq's (and SQLAlchemy's, which hands them on) `password` and
# `sslpassword`; cameras' `password=`, `pwd=`,
# `usrPwd=`, `pass=`, `passwd=`, `psw=` and `p=` (DVR snapshot URLs), `passcode=`, `loginpas=`
# (Foscam), `auth=` and `authbasic=` (a base64 `user:password`); tokens and keys of web streams
# (`token=`, `access_token=`, `secret=`, `client_secret=`, `api_key=`, `apikey=`, `key=`, `pw=`);
# signed URLs' signatures and credentials (`sig=` of Azure SAS, `X-Amz-Signature`,
# `X-Amz-Credential`). `passfile`, `sslkey`, `keyframe`, `author` and the like name files or
# settings, not secrets, and stay readable.
_SECRET_KEY = re.compile(
    r"p|pw|psw|auth|authbasic|key|sig|.*(?:pass|passwd|password|passwort|passcode|loginpas|pwd"
    r"|psw|token|secret|api[-_]?key|signature|credential)",
    re.IGNORECASE)
# where a `key=` of a URL starts, in its query, its path (`/user=admin&password=...`), after a
# `;` or inside one path segment (XMeye DVRs' `/user=admin_password=..._channel=1`): a name that
# starts with a letter (or a percent escape), its parts joined by `-` or `_`, after any character
# but a letter, a digit, `%` or `=`. Any such separator counts, since DVRs join their pairs with
# `_` as others do with `&`: a `key=` missed inside another value would show its secret.
_URL_KEY = re.compile(
    r"(?<![A-Za-z0-9%=])(?P<key>[A-Za-z%][A-Za-z0-9%]*(?:[-_][A-Za-z0-9%]+)*)=")
# one `keyword = value` of a libpq connection string; a value is a word, or quoted with `\'` and
# `\\` escapes (an unclosed quote runs to the end: hidden whole)
_KEYWORD_VALUE = re.compile(
    r"(?P<key>(?:^|(?<=\s))[A-Za-z_][A-Za-z0-9_-]*\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'?|\S*)",
    re.DOTALL)


def hide_password(url: str) -> str:
    """``url`` with its secrets replaced by ``***``, so that no message or log line carries one.

    In every URL of the text (``scheme://``, wherever it starts): the password of
    ``scheme://user:password@...``, and the value of every ``key=value`` named for a secret
    (:data:`_SECRET_KEY`) in its query or its path, after whatever joins the pairs (``?``,
    ``&``, ``;``, ``/``, an XMeye DVR's ``_``: :data:`_URL_KEY`). In a libpq keyword/value
    string (``host=db password=...``), the value of every such keyword. Anything else (a file
    path, a URL without a password) as it is.

    Everything up to the URL's LAST ``@`` counts as the credentials, so a password holding an
    unencoded ``@`` or ``/`` is hidden whole (SQLAlchemy's own rendering shows what follows that
    ``@``); an ``@`` later in the path then hides the host as well, which is the safe side, and
    so does a user name holding a ``/``: all of it is hidden. A password holding a ``scheme://``
    is no second URL (:func:`_in_credentials`). The credentials are read both before the secret
    values are masked (a ``key=`` inside a password must not run past their ``@``) and after (an
    ``@`` inside a query or path password is not their end): what either reading hides stays
    hidden (:func:`_hide_url_secrets`). A URL whose scheme was
    forgotten (``alice:pw@db/cp``) reads as a scheme and a password.
    """
    starts = [(m.start(), m.end()) for m in _SCHEME.finditer(url)]
    loose = _LOOSE_SCHEME.match(url)
    if loose is not None and (not starts or starts[0][0] > loose.start("scheme")):
        starts.insert(0, (loose.start("scheme"), loose.end("scheme")))
    urls: list[tuple[int, int]] = []
    for start, end in starts:  # a "scheme" inside a password is no new URL
        if not urls or not _in_credentials(url[urls[-1][0]:urls[-1][1]], url[urls[-1][1]:start]):
            urls.append((start, end))
    starts = urls
    if not starts:
        return _hide_keyword_secrets(url)
    shown = [_hide_keyword_secrets(url[:starts[0][0]])]
    url_ends = [start for start, _ in starts[1:]] + [len(url)]  # each URL runs to the next one
    for (start, end), url_end in zip(starts, url_ends, strict=True):
        scheme = url[start:end]
        shown.append(scheme + _hide_url_secrets(scheme, url[end:url_end]))
    return "".join(shown)


def _in_credentials(scheme: str, before: str) -> bool:
    """Whether a scheme found after ``before``, the text since the previous URL's ``scheme``,
    lies inside that URL's credentials (``postgresql://u:ab://cd@h/db`` has the password
    ``ab://cd``, ``rtsp://admin://pw@cam`` the user ``admin`` and the password ``//pw``): a user
    and a colon so far, or nothing, no space, and no ``@`` but one right before it.

    A URL inside another's path or query (``http://p/?u=rtsp://u:pw@c2``) has no colon before it;
    one after a port (``http://p:80/?u=rtsp://...``) is taken for a password, hiding both URLs'
    credentials, the safe side (SQLAlchemy reads it so too).
    """
    if any(c.isspace() for c in before) or ("@" in before and not before.endswith("@")):
        return False
    # `alice:` (no slashes) was a user read as a scheme
    return not before or ":" in before or not scheme.endswith("/")


def _hide_url_secrets(scheme: str, rest: str) -> str:
    """``rest``, a URL after its ``scheme``, with its password and secret values masked: the
    credentials as read before the pairs are masked and as read after, both hidden. Read before,
    a ``key=`` inside a password (``user:Su!p=x#1@db``) cannot run past their ``@`` and show the
    password; read after, an ``@`` inside a query password is not taken for their end."""
    return _hide_credentials(scheme, _hide_url_pairs(_hide_credentials(scheme, rest, True)))


def _hide_credentials(scheme: str, rest: str, before_pairs: bool = False) -> str:
    """``rest`` with what its last ``@`` ends masked: the password of ``user:password``, or the
    whole of what cannot be told apart from one. ``before_pairs``: the last ``@`` with no ``?``
    before it (one after a ``?`` is a query value's, ``?password=p@ss``), and only with no ``/``
    before it (one after a ``/`` may be a path password's, an XMeye DVR's
    ``/user=admin_password=a@b_channel=1``): those are for the pairs."""
    # the first reading stops at a space too: an authority holds none, and a later `@` in the
    # text (`... retry with password=Admin@123`) is no end of this URL's credentials
    cut = -1
    if before_pairs:
        space = re.search(r"\s", rest)
        cut = min((i for i in (rest.find("?"), space.start() if space else -1) if i >= 0),
                  default=-1)
    head, tail = (rest, "") if cut < 0 else (rest[:cut], rest[cut:])
    credentials, at, host = head.rpartition("@")
    host += tail
    if not at or (before_pairs and "/" in credentials):
        return rest
    if ":" not in credentials:
        # a forgotten scheme: `alice:pw@db/cp` matched `alice:` as one; a path such as
        # `C:\x@y.mp4` or `rtsp://cam/a@b` holds a slash, and stays as it is
        if not scheme.endswith("/") and not any(c in credentials for c in "/\\"):
            return f"***@{host}"
        return rest
    user, _, password = credentials.partition(":")
    # a `://` after the "user" (`alice:ab://cd@db`, a forgotten scheme) is a password's, whole
    if user and not any(c in user for c in "/\\") and not password.startswith("//"):
        return f"{user}:***@{host}"
    return f"***@{host}"


def _hide_url_pairs(rest: str) -> str:
    """``rest`` with the value of every secret ``key=`` (:data:`_URL_KEY`) masked.

    A secret value runs to the next ``key=`` that opens a pair of its own: one whose value does
    not start with ``=``, ``&``, ``;`` or a space and is not empty, so that a base64 secret does
    not end at its own padding (``token=QUJD/REVG=&fmt=1``, whose ``REVG=`` would show), and,
    for a pair of a query (after ``?``, ``&`` or ``;``), one after a ``&`` or a ``;``, as a query
    is split: a query password holding ``&``, ``;``, ``/`` or ``_`` is hidden whole up to the
    next pair (``password=s3c&r;et&res=1``). A pair in a path ends at any separator, so that
    ``_channel=1`` after an XMeye DVR's password stays readable; a pair there opens only after
    ``/``, ``_``, ``&``, ``;`` or ``?`` (:func:`_opens_pair`), so a password there that holds
    ``_name=`` shows what follows it, as the DVR, splitting on ``_``, would read it. A ``#``
    ends no value: SQLAlchemy reads ``?password=a#b`` as the password ``a#b``.
    """
    keys = list(_URL_KEY.finditer(rest))
    shown, shown_from, i = [], 0, 0
    while i < len(keys):
        key = keys[i]
        i += 1
        if key.start() < shown_from or not _is_secret(key["key"]):
            continue
        keyword = (_KEYWORD_VALUE.match(rest, key.start())
                   if key.start() > 0 and rest[key.start() - 1].isspace() else None)
        if keyword is not None:
            # after a space, no URL's pair but a libpq keyword in the text after the URL: its
            # value ends as libpq reads it (at a space, or its closing quote), not at a `/x=`
            # inside it (a base64 password showed its tail) nor at the text's end (every
            # keyword after it was hidden)
            shown += [rest[shown_from:keyword.start("value")], "***"]
            shown_from = keyword.end("value")
            continue
        in_query = key.start() > 0 and rest[key.start() - 1] in "?&;"
        while i < len(keys) and not _opens_pair(rest, keys[i], in_query):
            i += 1
        end = keys[i].start() - 1 if i < len(keys) else len(rest)  # the separator stays shown
        shown += [rest[shown_from:key.end()], "***"]
        shown_from = end
    return "".join(shown) + rest[shown_from:]


def _opens_pair(rest: str, key: re.Match[str], in_query: bool) -> bool:
    """Whether ``key`` starts a pair of its own after a secret's value: in a query after a
    ``&`` or a ``;``; in a path after what cameras join their pairs with (``/``, an XMeye DVR's
    ``_``, ``&``, ``;``, or the ``?`` that starts the query: a password in a URL holds no raw
    ``/`` or ``?``, which would split it), never after any other character a password may hold
    (``Pa$s=Word1`` showed ``$s=Word1``): a value not ended runs to the end, hiding more than
    the secret rather than part of it."""
    after = rest[key.end():key.end() + 1]
    if rest[key.start() - 1] not in ("&;" if in_query else "/_&;?"):
        return False
    return bool(after) and after not in "=&;" and not after.isspace()


def _is_secret(key: str) -> bool:
    name = unquote_plus(key).strip()
    last = re.split(r"[-_]", name)[-1]
    return _SECRET_KEY.fullmatch(name) is not None or (
        last.lower() != "auth" and _SECRET_KEY.fullmatch(last) is not None)


def _hide_keyword_secrets(text: str) -> str:
    """``text`` with the values of secret keywords masked, as libpq reads ``key = value``."""
    def mask(match: re.Match[str]) -> str:
        key = match["key"].rstrip().rstrip("=").rstrip()
        return f"{match['key']}***" if _is_secret(key) else match[0]

    return _KEYWORD_VALUE.sub(mask, text)
