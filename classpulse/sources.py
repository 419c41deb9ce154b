"""What kind of frame source a ``--source`` string names, told from the string alone.

The producers read the sources (:mod:`producers.sources`); the demo only needs to know whether
the one it was given is a file or folder (looped) or live. Standard library only: nothing here
opens a source.
"""

from __future__ import annotations

import os
from typing import Literal

SourceKind = Literal["webcam", "stream", "synthetic", "folder", "file"]

HTTP_PREFIXES = ("http://", "https://")  # a stream by its name; producers.sources tells more
STREAM_PREFIXES = ("rtsp://", "rtsps://", *HTTP_PREFIXES)
SYNTHETIC_PREFIX = "synthetic:"  # synthetic:classroom[-cctv][:SEED], a labelled synthetic class
# a webcam's device path: /dev/video0, or a stable link to it (/dev/v4l/by-id/..., by-path/...)
WEBCAM_PATHS = ("/dev/video", "/dev/v4l/")
# the port a stream URL's scheme means when it names none: `rtsp://cam/x` is `rtsp://cam:554/x`
DEFAULT_PORTS = {"rtsp": "554", "rtsps": "322", "http": "80", "https": "443"}


def describe_source(src: str) -> SourceKind:
    """The kind of source ``src`` names: webcam, stream, synthetic, folder or file.

    A webcam index is ASCII digits (``'²'.isdigit()`` is true too, and ``int`` refuses it) that
    name no file or folder: a video called ``2024`` is read as one, not as webcam 2024. A webcam
    is also a video device's path, ``/dev/video0`` or better a link to it under ``/dev/v4l/``
    (``/dev/v4l/by-id/...`` stays the same camera when the indexes shift after a reboot or a
    replug), or a link to either: by its name, whether or not the device is there, since a webcam
    unplugged at start is retried like an index, not refused. Any other path under ``/dev``
    (``/dev/null``, ``/dev/tty``) is a file that :func:`producers.sources.check_source` refuses.
    The ``os.path`` calls never raise (a path too long, or in a folder this user may not enter,
    is simply not there), so naming a source never ends the process.
    """
    if src.isascii() and src.isdigit() and not os.path.exists(src):
        return "webcam"
    if src.startswith(SYNTHETIC_PREFIX):
        return "synthetic"
    if src.lower().startswith(STREAM_PREFIXES):
        return "stream"
    if os.path.isdir(src):
        return "folder"
    if any(p.startswith(WEBCAM_PATHS) for p in source_paths(src)):
        return "webcam"
    return "file"


def source_paths(src: str) -> tuple[str, ...]:
    """``src`` as an absolute path, and where its links lead; none for a path that cannot be
    one (a NUL in it)."""
    try:
        return os.path.abspath(src), os.path.realpath(src)
    except (OSError, ValueError):
        return ()


def live_source_identity(src: str) -> str | None:
    """The device or stream behind a live source, written one way for all its spellings, so that
    two cameras reading one camera can be told (one camera read twice counts each pupil twice);
    None for a source that is no camera (a file, a folder, a synthetic class).

    A webcam index ``N`` is ``/dev/videoN`` (the device V4L2 opens for it) and a device path
    where its links lead (``/dev/v4l/by-id/...`` to ``/dev/video0``, when plugged in). A stream
    URL keeps its path and query as written (case-sensitive on most servers) without its login
    (``admin`` and ``viewer`` see one stream), its scheme and host in lower case, and its port
    only when not the scheme's own (``rtsp://cam:554/x`` is ``rtsp://cam/x``), its authority cut
    as FFmpeg cuts it (:func:`stream_authority`).
    """
    kind = describe_source(src)
    if kind == "webcam":
        if src.isascii() and src.isdigit():
            return f"/dev/video{int(src)}"
        paths = source_paths(src)
        return paths[1] if paths else src
    if kind != "stream":
        return None
    scheme = src.partition("://")[0].lower()
    address, port, after = stream_authority(src)
    if port == DEFAULT_PORTS.get(scheme):
        port = ""
    return f"{scheme}://{address.lower()}{':' if port else ''}{port}{after}"


def stream_authority(src: str) -> tuple[str, str, str]:
    """(host, port, what follows) of a stream URL, its authority cut as FFmpeg cuts it: from the
    ``//`` to the first ``/``, ``?`` or ``#``, the login up to its last ``@``, a ``:port`` after
    the host (an IPv6 address kept in its brackets, ``[::1]``; an unclosed ``[`` runs to the
    end). The host is "" where none is named (``rtsp://user:pw@``, ``http://``)."""
    rest = src.partition("//")[2]
    cut = min([i for i in (rest.find(c) for c in "/?#") if i >= 0], default=len(rest))
    host = rest[:cut].rpartition("@")[2]
    if host.startswith("["):  # an IPv6 address, its port after the bracket
        address, closed, port = host.partition("]")
        return address + closed, port.removeprefix(":"), rest[cut:]
    address, _, port = host.partition(":")
    return address, port, rest[cut:]
