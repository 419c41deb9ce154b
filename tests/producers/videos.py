"""Video files, image folders and HTTP servers the producer tests read, written with OpenCV into a
test's folder."""

from __future__ import annotations

import functools
import http.server
import itertools
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np


def cut_video(folder: Path, kept: float, frames: int = 60) -> Path:
    """A 10 fps MJPG video of ``frames`` frames of seeded noise (each frame's JPEG about the same
    size), cut to its first ``kept`` share of bytes: a copy not finished, whose container still
    announces every frame."""
    full = folder / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    noise = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(noise.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    cut = folder / "cut.avi"
    cut.write_bytes(full.read_bytes()[:int(full.stat().st_size * kept)])
    return cut


def folder_of_jpegs(folder: Path, images: int) -> list[Path]:
    """A folder of ``images`` JPEGs of seeded noise, each several kB (so one cut short loses
    rows); returns their paths in the order the folder is read."""
    folder.mkdir()
    noise = np.random.default_rng(3)
    paths = [folder / f"{i:02d}.jpg" for i in range(images)]
    for path in paths:
        cv2.imwrite(str(path), noise.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    return paths


def cut_short(path: Path) -> None:
    """Keep the first half of ``path``'s bytes: a copy not finished (a JPEG loses its end)."""
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def oversized_png(path: Path) -> Path:
    """A 68-byte PNG whose header declares 40000x40000 pixels, over OpenCV's limit: OpenCV
    refuses it with an exception (cv2.error), not with None as it does a file that is no
    image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", 40000, 40000, 1, 0, 0, 0, 0)  # 1-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))
    return path


def grey(index: int) -> np.ndarray:
    """Frame ``index`` of :func:`grey_video`: flat grey ``10 * index``, told back from a JPEG of
    it by :func:`index_of`."""
    return np.full((48, 64, 3), 10 * index, np.uint8)


def index_of(jpeg: bytes) -> int:
    """Which :func:`grey` frame a published JPEG holds."""
    return round(float(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).mean()) / 10)


def grey_video(path: Path, frames: int, fps: float = 10) -> Path:
    """An MJPG video whose frame i is :func:`grey` (i), at ``fps``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for i in range(frames):
        writer.write(grey(i))
    writer.release()
    return path


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder``'s files served over HTTP on a free local port, as a web server serves a
    recorded lesson; yields the base URL (``http://127.0.0.1:PORT/``)."""
    with _serving(functools.partial(QuietHandler, directory=str(folder))) as base:
        yield base


@contextmanager
def _serving(handler: Callable[..., http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server of ``handler`` on a free local port, in a thread; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging each request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def live_mjpeg(frames: int) -> Iterator[str]:
    """A live camera's MJPEG stream over HTTP (multipart/x-mixed-replace, as IP cameras serve
    it): ``frames`` grey frames 20 ms apart to one client, then the connection closes, as a
    camera cut off does. Yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:  # closed before a client came
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; "
                         b"boundary=frame\r\n\r\n")
            for i in range(frames):
                jpeg = cv2.imencode(".jpg", grey(i))[1].tobytes()
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                             % len(jpeg) + jpeg + b"\r\n")
                threading.Event().wait(0.02)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/video.mjpg"
    finally:
        listener.close()
        thread.join(timeout=5)


@contextmanager
def snapshots() -> Iterator[str]:
    """A camera's snapshot URL: each GET answers a fresh JPEG, grey ``10 * i`` for the i-th
    request (from 0, told back by :func:`index_of`), as IP cameras and DVRs serve
    ``/snapshot.jpg``. Yields its URL. Each picture holds faint seeded noise, so that its JPEG
    weighs kilobytes, as a camera's does: FFmpeg counts such an answer as a one-frame file (a
    flat JPEG of a few hundred bytes, as no frames at all)."""
    served_count = itertools.count()
    noise = np.random.default_rng(5).integers(0, 5, (120, 160, 3))

    class Snapshot(QuietHandler):
        def do_GET(self) -> None:
            picture = (10 * next(served_count) + noise).clip(0, 255).astype(np.uint8)
            jpeg = cv2.imencode(".jpg", picture)[1].tobytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)

    with _serving(Snapshot) as base:
        yield f"{base}cgi-bin/snapshot.jpg"
