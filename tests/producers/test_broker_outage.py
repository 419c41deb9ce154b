"""A broker that goes away and comes back while a producer runs: it recovers on its own and
reports what it had to drop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from classpulse.broker import EmbeddedBroker, free_port
from tests.fixtures.services import messages_held

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_producer_survives_a_broker_restart(shared_data: Path) -> None:
    port = free_port()
    broker = EmbeddedBroker(port=port).start()
    video = shared_data / "faces" / "crowd-1080p-25fps.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "classpulse", "produce", "--source", str(video), "--camera",
         "cam-r", "--classroom", "7B", "--fps", "4", "--loop", "--realtime", "--max-pending",
         "16", "--max-side", "320", "--bootstrap-servers", broker.bootstrap, "--topic", "restart"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6)
        before = messages_held(broker.bootstrap, "restart", enough=10)
        assert before >= 10
        broker.stop()  # in-memory broker: everything it held is gone
        time.sleep(6)
        broker = EmbeddedBroker(port=port).start()
        time.sleep(10)
        after = messages_held(broker.bootstrap, "restart", enough=10)
        assert proc.poll() is None, "the producer must keep running through the outage"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()
    assert proc.returncode == 0, err[-2000:]
    assert after >= 10, f"nothing arrived after the restart ({after}); stderr: {err[-2000:]}"
    m = re.search(r"camera=cam-r published=(\d+) sent=(\d+) failed=(\d+) dropped=(\d+)", out)
    assert m, out
    published, sent, failed, dropped = map(int, m.groups())
    assert published == sent + failed + dropped
    assert failed + dropped > 0, "frames published during the outage must be counted as lost"
    assert sent >= before + after  # at least the (up to 10 + 10) messages read back
