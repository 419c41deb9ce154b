"""Creating kafka-python clients while the broker may still be starting (compose start order)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from classpulse.errors import UsageError

log = logging.getLogger(__name__)
T = TypeVar("T")

# one try to reach the broker: kafka-python's own bootstrap waits a fixed 30 s (its
# ``bootstrap_timeout_ms``) whatever timeout the caller has; each client made under
# connect_with_retry is given attempt_ms(deadline) instead
BOOTSTRAP_ATTEMPT_S = 10.0


def attempt_ms(deadline: float) -> int:
    """``bootstrap_timeout_ms`` for one try: up to :data:`BOOTSTRAP_ATTEMPT_S`, never past
    ``deadline`` (a ``time.monotonic()`` value), and at least half a second."""
    return int(1000 * max(0.5, min(deadline - time.monotonic(), BOOTSTRAP_ATTEMPT_S)))


def connect_with_retry(make: Callable[[], T], bootstrap: str, timeout_s: float = 60.0) -> T:
    """Call ``make`` until it stops raising KafkaError, with backoff, for up to ``timeout_s``."""
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    delay = 0.5
    while True:
        try:
            return make()
        except KafkaError as exc:
            if time.monotonic() + delay > deadline:
                raise UsageError(
                    f"cannot reach Kafka at {bootstrap} after {timeout_s:.0f} s ({exc!r}); "
                    "check KAFKA_BOOTSTRAP_SERVERS and that the broker runs"
                ) from None
            log.warning("Kafka at %s not reachable yet (%r); retrying, giving up in %.0f s",
                        bootstrap, exc, deadline - time.monotonic())
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
