"""Graceful shutdown for long-running commands: SIGINT/SIGTERM/SIGHUP set a stop flag.

The loops check ``stop.is_set()`` (or ``stop.wait(timeout)``) and leave through their normal exit
path, so buffers are flushed and resources in the command's ExitStack are closed.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[int, FrameType | None], Any] | int  # what signal.signal takes (and returns)
# SIGHUP (the terminal closed) stops too: the children of the demo and the dashboard run in sessions
# of their own (classpulse.processes.start_child), where no hangup reaches them, so their parent
# must live to stop them. Windows has no SIGHUP.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class StopFlag(threading.Event):
    """An event set by SIGINT, SIGTERM or SIGHUP while the ``with`` block runs.

    A second signal while stopping raises KeyboardInterrupt, so a stuck shutdown can still be cut
    (except inside :meth:`shielded`). A signal ignored when the block starts (SIGHUP under
    ``nohup``; SIGINT of a job a script started in the background) stays ignored. Outside the
    main thread (tests) it works as a plain event without signal handlers.
    """

    def __init__(self) -> None:
        super().__init__()
        # the handlers to put back; None: installed from outside Python, nothing to restore
        self._previous: dict[signal.Signals, Handler | None] = {}
        self._shielded = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._shielded:
            log.info("received %s again while stopping; the stop under way goes on", name)
            return
        if self.is_set():
            raise KeyboardInterrupt
        log.info("received %s, stopping", name)
        self.set()

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Set the flag, and let further signals be logged instead of raising KeyboardInterrupt.

        For a shutdown whose every wait has a timeout, where being cut half-way is worse than
        waiting: the demo stopping its children, one after the other, would leave the ones not
        yet signalled running.
        """
        self.set()
        self._shielded = True
        try:
            yield
        finally:
            self._shielded = False

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
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
