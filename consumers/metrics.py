"""Prometheus metrics of one consumer, in its own registry (no process-global state)."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from classpulse.errors import UsageError

# Where the server listens is the setting ``metrics_host`` (classpulse.settings;
# CLASSPULSE_METRICS_HOST, `consume --metrics-host`): this host only by default, since the metrics
# name the cameras and a consumer that reads one camera alone shows that camera's faces
# (README.md, "Privacy promise"); compose.yaml gives 0.0.0.0 inside its metrics network.


class ConsumerMetrics:
    """Frames, faces, rejections by reason, batch latency, lag, the last flush time, conflicts,
    log resets and a frames topic gone from the broker."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # frames per camera say whether a camera sends, nothing about people
        self.frames = Counter("classpulse_frames_total", "frames analysed", ["camera"], registry=r)
        # faces per camera, scraped every 15 s, would count one camera's people in the minute
        # under way and in minutes the small-group rule hides (README.md, "Privacy promise")
        self.faces = Counter(
            "classpulse_faces_total",
            "faces detected (read or refused by the gate), all of this consumer's cameras together",
            registry=r)
        self.rejected = Counter("classpulse_rejected_total", "messages skipped, by reason",
                                ["reason"], registry=r)
        self.batch_seconds = Histogram(
            "classpulse_batch_seconds", "decode + detect + classify time per batch", registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
        )
        self.batch_frames = Histogram("classpulse_batch_frames", "frames per batch", registry=r,
                                      buckets=(1, 2, 4, 8, 16, 32, 64))
        self.event_lag = Gauge("classpulse_event_lag_seconds",
                               "now minus captured_at of the newest frame read in time, or, "
                               "of a batch refused whole as stale, minus the broker's time of "
                               "its newest record (where the broker stamps none, the stale "
                               "frames' capture time)", registry=r)
        self.records_lag = Gauge("classpulse_consumer_lag_records",
                                 "messages behind the partition end", ["partition"], registry=r)
        self.last_flush = Gauge("classpulse_last_flush_timestamp_seconds",
                                "unix time of the last committed flush", registry=r)
        self.flush_conflicts = Counter("classpulse_flush_conflicts_total",
                                       "flushes rolled back because another consumer owned the "
                                       "partition", registry=r)
        self.log_resets = Counter("classpulse_log_resets_total",
                                  "partitions restarted from the beginning of a new log (broker "
                                  "data lost or topic recreated)", ["partition"], registry=r)
        self.topic_missing = Gauge(
            "classpulse_frames_topic_missing",
            "1 while the broker does not list the frames topic (deleted, or lost in a broker "
            "restart): nothing is read until it is created again", registry=r)

    def forget_partition(self, partition: int) -> None:
        """Stop exporting a revoked partition's lag, which its new owner reports."""
        with contextlib.suppress(KeyError):  # KeyError: never reported here
            self.records_lag.remove(str(partition))

    def serve(self, port: int, addr: str) -> None:
        try:
            start_http_server(port, addr=addr, registry=self.registry)
        except OSError as exc:
            raise _cannot_serve(addr, port, exc) from None


def check_metrics_port(port: int, addr: str) -> None:
    """Fail at once, in one line, when ``port`` cannot be listened on at ``addr`` (an IP address,
    :func:`classpulse.settings.listen_address`). The server itself starts only once the networks
    are loaded (its answer is the consumer's health check), which is a minute or more of loading
    wasted on a port that was taken, or an address this host does not have, all along."""
    family = socket.AF_INET6 if ipaddress.ip_address(addr).version == 6 else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((addr, port))
        except OSError as exc:
            raise _cannot_serve(addr, port, exc) from None


def _cannot_serve(addr: str, port: int, exc: OSError) -> UsageError:
    where = f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
    if exc.errno == errno.EADDRINUSE:
        why = ("another program (another consumer on this host?) uses it: pass another "
               "--metrics-port, or 0 for none")
    elif exc.errno == errno.EACCES:  # a port below 1024, which only root may listen on
        why = ("ports below 1024 need root: pass a --metrics-port of 1024 or above, or 0 for "
               "none")
    else:  # EADDRNOTAVAIL: an address this host (or container) does not have
        why = ("give --metrics-host (CLASSPULSE_METRICS_HOST) an address of this host, "
               "127.0.0.1 or 0.0.0.0, or --metrics-port 0 for no metrics")
    return UsageError(f"cannot serve metrics on {where} ({exc.strerror}); {why}")
