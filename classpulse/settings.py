"""One typed, frozen settings object, read once at the entry point and passed down.

Precedence: command-line flags, then environment variables, then the defaults below. This is the
only module that reads ClassPulse's settings from ``os.environ`` (``classpulse.cli`` only sets
FFmpeg's log switch in it; ``model.device`` reads oneDNN's own ``ONEDNN_MAX_CPU_ISA`` to know what
that library will do); everything else receives a ``Settings`` (or the part of it it needs). A bad
value fails here, naming the variable, the value and the fix, instead of being quietly replaced by
a default.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, NamedTuple

from classpulse.emotions import DEFAULT_ENGAGEMENT_WEIGHTS, EMOTIONS, weights_vector
from classpulse.redact import hide_password

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_TOPIC = "classpulse.frames"
# the names Kafka gives a topic (its Topic.validate; "." and ".." are refused besides): a name
# outside it passed here and failed at the consumer's subscribe, with a traceback, after the
# networks had loaded
TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
DEFAULT_DATABASE_URL = "sqlite:///classpulse.db"
DATABASE_BACKENDS = ("sqlite", "postgresql")  # the dialects migrations and queries are written for
# the PostgreSQL driver ClassPulse installs (psycopg 3); a URL naming no driver gets it, because
# SQLAlchemy 2.0 would pick psycopg2, which is not installed, and Heroku-style `postgres://` URLs
# name the same database
POSTGRES_DRIVER_URL = "postgresql+psycopg://"
POSTGRES_SCHEMES = ("postgres://", "postgresql://")
MIN_PORT, MAX_PORT = 1, 65535
PORT_TEXT = re.compile(r"-?[0-9]+")  # what port_number reads as a number
DEVICES = ("auto", "cpu", "cuda")
# where `classpulse consume --metrics-port` listens: this host only unless told otherwise, since
# the metrics name the cameras and, for a consumer that reads one camera alone, count its faces
# (README.md, "Privacy promise"); compose.yaml gives 0.0.0.0 inside its metrics network
DEFAULT_METRICS_HOST = "127.0.0.1"
# The small-group rule's least threshold: it hides minutes so that no chart describes a single
# child, and one face read at once may be one child's. The database's check says the same (written
# out in migration 0015_closes_after_max_lag); classpulse.db.rule refuses less before storing it.
MIN_FACES_SHOWN_LEAST = 2
# and its greatest, for MIN_FACES_SHOWN and --min-faces-shown (Settings.load): more faces than any
# camera sees at once would hide every minute (and a much larger number overflows the database's
# integer column); a stored threshold is not held to it (the database has no such bound)
MIN_FACES_SHOWN_MOST = 1000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# the readability gate's settings: field, environment variable, allowed range
GATE_LIMITS = (
    ("gate_min_face_px", "GATE_MIN_FACE_PX", 0.0, 1000.0),
    ("gate_max_pitch", "GATE_MAX_PITCH", 0.0, 90.0),
    ("gate_max_yaw", "GATE_MAX_YAW", 0.0, 90.0),
    ("gate_max_roll", "GATE_MAX_ROLL", 0.0, 180.0),
    ("gate_min_confidence", "GATE_MIN_CONFIDENCE", 0.0, 1.0),
    ("gate_min_face_score", "GATE_MIN_FACE_SCORE", 0.0, 1.0),
)


class AppDbRole(NamedTuple):
    """The PostgreSQL login role of a service, and the setting that holds its password."""

    role: str
    field: str
    variable: str


# the services that log in to PostgreSQL as a role of their own (compose.yaml), which
# `classpulse db upgrade --app-roles` creates and grants (classpulse.db.roles)
APP_DB_ROLES: Mapping[str, AppDbRole] = MappingProxyType({
    "dashboard": AppDbRole("classpulse_dashboard", "dashboard_db_password",
                           "DASHBOARD_DB_PASSWORD"),
    "consumer": AppDbRole("classpulse_consumer", "consumer_db_password", "CONSUMER_DB_PASSWORD"),
})


class SettingsError(ValueError):
    """A configuration value is wrong; the message names it and says how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a ClassPulse process, with its environment variable."""

    kafka_bootstrap_servers: str = DEFAULT_BOOTSTRAP  # KAFKA_BOOTSTRAP_SERVERS
    kafka_topic: str = DEFAULT_TOPIC  # KAFKA_TOPIC
    database_url: str = DEFAULT_DATABASE_URL  # DATABASE_URL
    min_faces_shown: int = 3  # MIN_FACES_SHOWN, at least MIN_FACES_SHOWN_LEAST
    engagement_weights: Mapping[str, float] = field(
        default_factory=lambda: DEFAULT_ENGAGEMENT_WEIGHTS
    )  # ENGAGEMENT_WEIGHTS="neutral=0.9,happy=0.6,..." (partial overrides)
    # the passwords are kept out of repr (database_url's too: see __repr__), which logs and
    # tracebacks show
    dashboard_password: str | None = field(default=None, repr=False)  # DASHBOARD_PASSWORD
    # passwords of the dashboard's and the consumers' PostgreSQL roles, which
    # `classpulse db upgrade --app-roles` sets (classpulse.db.roles)
    dashboard_db_password: str | None = field(default=None, repr=False)  # DASHBOARD_DB_PASSWORD
    consumer_db_password: str | None = field(default=None, repr=False)  # CONSUMER_DB_PASSWORD
    device: str = "auto"  # CLASSPULSE_DEVICE
    model_weights: str | None = None  # CLASSPULSE_WEIGHTS (None: the shipped weights)
    log_level: str = "INFO"  # CLASSPULSE_LOG_LEVEL
    # the consumers' readability gate (consumers/gate.py); each default measured on FER2013 val,
    # model/README.md "The readability gate"
    gate_min_face_px: float = 19.0  # GATE_MIN_FACE_PX: narrowest face read (box side, pixels)
    gate_max_pitch: float = 30.0  # GATE_MAX_PITCH: degrees seen from above / bowed
    gate_max_yaw: float = 35.0  # GATE_MAX_YAW: degrees turned aside
    gate_max_roll: float = 18.0  # GATE_MAX_ROLL: degrees tilted
    gate_min_confidence: float = 0.30  # GATE_MIN_CONFIDENCE: the classifier's top probability
    gate_min_face_score: float = 0.90  # GATE_MIN_FACE_SCORE: the detector's score of the face
    # consumers refuse frames captured more than this many seconds after their own clock: a camera
    # clock far ahead would otherwise fill minutes that have not happened yet
    max_clock_skew_s: float = 30.0  # CLASSPULSE_MAX_CLOCK_SKEW_S
    # the address a consumer's metrics port listens on (`consume --metrics-host`)
    metrics_host: str = DEFAULT_METRICS_HOST  # CLASSPULSE_METRICS_HOST
    # names of the fields given by a flag or an environment variable rather than defaulted; the
    # demo uses it to start an embedded broker only when no Kafka was configured
    explicit: frozenset[str] = field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        if not self.kafka_bootstrap_servers.strip():
            raise SettingsError("KAFKA_BOOTSTRAP_SERVERS is empty; give host:port[,host:port]")
        for server in self.kafka_bootstrap_servers.split(","):
            host, sep, port = server.strip().rpartition(":")
            try:
                if not sep or not host:
                    raise ValueError(server)
                port_number(port)
            except ValueError:
                raise SettingsError(
                    f"KAFKA_BOOTSTRAP_SERVERS entry {server!r} is not host:port "
                    f"(e.g. 127.0.0.1:9092, a port from {MIN_PORT} to {MAX_PORT})"
                ) from None
        if not TOPIC_NAME.fullmatch(self.kafka_topic) or self.kafka_topic in (".", ".."):
            raise SettingsError(
                f"KAFKA_TOPIC (or --topic) {self.kafka_topic!r} is not a Kafka topic name; use "
                "1-249 letters, digits, '.', '_' or '-' (not '.' or '..' alone)"
            )
        if "://" not in self.database_url:
            raise SettingsError(
                f"DATABASE_URL {hide_password(self.database_url)!r} is not a SQLAlchemy URL; use "
                "e.g. sqlite:///classpulse.db or postgresql+psycopg://user@host/db"
            )
        scheme, rest = self.database_url.split("://", 1)
        if f"{scheme.lower()}://" in POSTGRES_SCHEMES:
            object.__setattr__(self, "database_url", POSTGRES_DRIVER_URL + rest)
        backend = self.database_url.split("://", 1)[0].split("+", 1)[0].lower()
        if backend not in DATABASE_BACKENDS:
            raise SettingsError(
                f"DATABASE_URL {hide_password(self.database_url)!r} is a {backend} database, which "
                "ClassPulse does not support; use sqlite:///classpulse.db or "
                "postgresql+psycopg://user@host/db"
            )
        if self.dashboard_password is not None and not self.dashboard_password.strip():
            raise SettingsError(
                f"DASHBOARD_PASSWORD={self.dashboard_password!r} is blank, which would leave the "
                "dashboard open; unset it for an open dashboard, or set a real password"
            )
        for _, name, var in APP_DB_ROLES.values():
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise SettingsError(f"{var} is blank; set the password of that database role, or "
                                    "unset it")
        if self.min_faces_shown < MIN_FACES_SHOWN_LEAST:
            raise SettingsError(
                f"MIN_FACES_SHOWN={self.min_faces_shown} (or --min-faces-shown) would show minutes "
                "in which a camera read one face at a time, a single child's; give "
                f"{MIN_FACES_SHOWN_LEAST} or more")
        if self.device not in DEVICES:
            raise SettingsError(f"device {self.device!r} (--device or CLASSPULSE_DEVICE) is not "
                                f"one of {', '.join(DEVICES)}")
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(
                f"log level {self.log_level!r} (--log-level or CLASSPULSE_LOG_LEVEL) is not one "
                f"of {', '.join(LOG_LEVELS)}"
            )
        for name, var, low, high in GATE_LIMITS:
            value = getattr(self, name)
            if not low <= value <= high:
                raise SettingsError(f"{var}={value!r} is outside [{low:g}, {high:g}]")
        if not 0 <= self.max_clock_skew_s <= 3600:
            raise SettingsError(
                f"clock skew {self.max_clock_skew_s!r} (--max-clock-skew or "
                "CLASSPULSE_MAX_CLOCK_SKEW_S) must lie in 0-3600 seconds"
            )
        try:
            listen_address(self.metrics_host)
        except ValueError as exc:
            raise SettingsError(f"CLASSPULSE_METRICS_HOST (or --metrics-host) {exc}") from None
        try:
            weights_vector(self.engagement_weights)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        object.__setattr__(
            self, "engagement_weights", MappingProxyType(dict(self.engagement_weights))
        )

    def __repr__(self) -> str:
        """The dataclass's repr, with the database URL's password hidden (the other passwords
        are left out): a Settings in a log line or a traceback must not carry one."""
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        shown["database_url"] = hide_password(self.database_url)
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Build settings from flags (``overrides``; None values ignored), environment, defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        text_vars = {
            "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
            "kafka_topic": "KAFKA_TOPIC",
            "database_url": "DATABASE_URL",
            "device": "CLASSPULSE_DEVICE",
            "model_weights": "CLASSPULSE_WEIGHTS",
            "log_level": "CLASSPULSE_LOG_LEVEL",
            "metrics_host": "CLASSPULSE_METRICS_HOST",
        }
        for name, var in text_vars.items():
            if env.get(var):
                values[name] = env[var].strip()
        if env.get("DASHBOARD_PASSWORD"):
            # as given, not stripped: a password may begin or end with a space, and "   " stripped
            # to "" would leave the page open (__post_init__ refuses it instead)
            values["dashboard_password"] = env["DASHBOARD_PASSWORD"]
        for _, name, var in APP_DB_ROLES.values():
            if env.get(var):  # as given, like DASHBOARD_PASSWORD
                values[name] = env[var]
        if "log_level" in values:
            values["log_level"] = values["log_level"].upper()
        if env.get("MIN_FACES_SHOWN"):
            values["min_faces_shown"] = _parse_int("MIN_FACES_SHOWN", env["MIN_FACES_SHOWN"])
        for name, var, _, _ in GATE_LIMITS:
            if env.get(var):
                values[name] = _parse_float(var, env[var])
        if env.get("CLASSPULSE_MAX_CLOCK_SKEW_S"):
            values["max_clock_skew_s"] = _parse_float("CLASSPULSE_MAX_CLOCK_SKEW_S",
                                                      env["CLASSPULSE_MAX_CLOCK_SKEW_S"])
        if env.get("ENGAGEMENT_WEIGHTS"):
            values["engagement_weights"] = parse_weights(env["ENGAGEMENT_WEIGHTS"])
        known = {f.name for f in fields(cls)} - {"explicit"}
        for name, value in (overrides or {}).items():
            if name not in known:
                raise SettingsError(f"unknown setting {name!r}")
            if value is not None:
                values[name] = value
        settings = cls(**values, explicit=frozenset(values))
        # the greatest threshold binds what is set here only: the database's stored threshold,
        # which the dashboard lays over these settings (with_overrides), has no such bound, and a
        # larger one stored by an older version must not stop the page
        if settings.min_faces_shown > MIN_FACES_SHOWN_MOST:
            raise SettingsError(
                f"MIN_FACES_SHOWN={settings.min_faces_shown} (or --min-faces-shown) is more faces "
                "than a camera sees at once and would hide every minute; give "
                f"{MIN_FACES_SHOWN_MOST} or fewer")
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def child_environment(changes: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with ``changes``, for a child process.

    How a parent hands a child a setting that must stay off its command line, which every local
    user can read (``ps``): a DATABASE_URL holding a password, like DASHBOARD_PASSWORD.
    """
    return {**os.environ, **changes}


def port_number(text: str) -> int:
    """A TCP port, ``text`` being its number from 1 to 65535 in ASCII digits; ValueError saying
    what is wrong otherwise. Shared by KAFKA_BOOTSTRAP_SERVERS and the port flags
    (``classpulse.flags.port``).

    ASCII digits only (a minus passes, to be refused as out of range; a plus is no port):
    ``str.isdigit`` also passes ``'²'``, which ``int`` refuses, and ``int`` takes other scripts'
    digits (``'٨٠'`` is 80), which no Kafka client or browser reads as a port.
    """
    if PORT_TEXT.fullmatch(text.strip()) is None:
        raise ValueError(f"{text!r} is not a port number")
    number = int(text)
    if not MIN_PORT <= number <= MAX_PORT:
        raise ValueError(f"{number} is not a port; give a number from {MIN_PORT} to {MAX_PORT}")
    return number


def listen_address(text: str) -> str:
    """An IP address to listen on (IPv4 or IPv6, ``0.0.0.0`` and ``::`` for every interface), as
    given; ValueError saying what is wrong otherwise. Host names are refused: one that resolves
    to several addresses, or to another one later, would make "where do the metrics listen"
    a question for the DNS."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address; give {DEFAULT_METRICS_HOST} (this host "
                         "only), 0.0.0.0 (every network of this host or container) or one of "
                         "this host's addresses") from None
    return text


def _parse_int(var: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SettingsError(f"{var}={text!r} is not a whole number") from None


def _parse_float(var: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SettingsError(f"{var}={text!r} is not a number") from None


def parse_weights(text: str) -> dict[str, float]:
    """Parse ``"neutral=0.9,happy=0.6"``; emotions not named keep their default weight."""
    weights = dict(DEFAULT_ENGAGEMENT_WEIGHTS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in EMOTIONS:
            raise SettingsError(
                f"ENGAGEMENT_WEIGHTS item {item!r} must be emotion=number with emotion one of "
                f"{', '.join(EMOTIONS)}"
            )
        try:
            weight = float(value)
        except ValueError:
            raise SettingsError(
                f"ENGAGEMENT_WEIGHTS item {item!r}: {value!r} is not a number"
            ) from None
        if not 0.0 <= weight <= 1.0:
            raise SettingsError(f"ENGAGEMENT_WEIGHTS item {item!r}: weight must lie in [0, 1]")
        weights[name] = weight
    return weights
