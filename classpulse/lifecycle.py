"""Graceful shutdown for long-running commands: SIGINT/SIGTERM set a stop flag.

The loops check ``stop.is_set()`` (or ``stop.wait(timeout)``) and leave through their normal exit
path, so buffers are flushed and resources in the command's ExitStack are closed.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[int, FrameType | None], Any] | int  # what signal.signal takes (and returns)


class StopFlag(threading.Event):
    """An event set by SIGINT/SIGTERM while the ``with`` block runs.

    A second signal while stopping raises KeyboardInterrupt, so a stuck shutdown can still be cut.
    Outside the main thread (tests) it works as a plain event without signal handlers.
    """

    def __init__(self) -> None:
        super().__init__()
        # the handlers to put back; None: installed from outside Python, nothing to restore
        self._previous: dict[signal.Signals, Handler | None] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.is_set():
            raise KeyboardInterrupt
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.set()

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            if handler is not None:
                signal.signal(sig, handler)
        self._previous.clear()
