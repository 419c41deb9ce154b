"""Settings: flags over environment over defaults, and clear errors naming the bad value."""

from __future__ import annotations

import pytest

from classpulse.emotions import DEFAULT_ENGAGEMENT_WEIGHTS, EMOTIONS, weights_vector
from classpulse.settings import DEFAULT_DATABASE_URL, Settings, SettingsError


def test_defaults_without_environment() -> None:
    s = Settings.load(environ={})
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert s.kafka_topic == "classpulse.frames"
    assert s.database_url == DEFAULT_DATABASE_URL
    assert s.min_faces_shown == 3
    assert dict(s.engagement_weights) == dict(DEFAULT_ENGAGEMENT_WEIGHTS)
    assert s.max_clock_skew_s == 30.0


def test_clock_skew_from_environment_and_flag() -> None:
    env = {"CLASSPULSE_MAX_CLOCK_SKEW_S": "2.5"}
    assert Settings.load(environ=env).max_clock_skew_s == 2.5
    assert Settings.load({"max_clock_skew_s": 90.0}, environ=env).max_clock_skew_s == 90.0


def test_the_metrics_listen_on_this_host_unless_told_otherwise() -> None:
    """The metrics server listened on 0.0.0.0, fixed: every network of the host could read frames
    per camera, and the faces of a consumer that reads one camera alone."""
    assert Settings.load(environ={}).metrics_host == "127.0.0.1" == Settings().metrics_host
    env = {"CLASSPULSE_METRICS_HOST": " 0.0.0.0 "}
    assert Settings.load(environ=env).metrics_host == "0.0.0.0"
    assert Settings.load({"metrics_host": "::1"}, environ=env).metrics_host == "::1"


@pytest.mark.parametrize("host", ["metrics.lan", "0.0.0.0:9100", "10.0.0.256", "*"])
def test_a_metrics_host_that_is_no_ip_address_is_one_line(host: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(environ={"CLASSPULSE_METRICS_HOST": host})
    assert str(info.value) == (
        f"CLASSPULSE_METRICS_HOST (or --metrics-host) {host!r} is not an IP address; give "
        "127.0.0.1 (this host only), 0.0.0.0 (every network of this host or container) or one "
        "of this host's addresses")


def test_flags_override_environment_which_overrides_defaults() -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092", "KAFKA_TOPIC": "env.topic",
           "DATABASE_URL": "postgresql+psycopg://u@h/db", "MIN_FACES_SHOWN": "5"}
    s = Settings.load({"kafka_topic": "flag.topic", "database_url": None}, environ=env)
    assert s.kafka_bootstrap_servers == "kafka:9092"
    assert s.kafka_topic == "flag.topic"
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.min_faces_shown == 5


@pytest.mark.parametrize("given", ["postgres://ops:pw@db:5433/cp", "postgresql://ops:pw@db:5433/cp",
                                   "PostgreSQL://ops:pw@db:5433/cp"])
def test_a_postgres_url_without_a_driver_gets_the_installed_one(given: str) -> None:
    """SQLAlchemy 2.0 would import psycopg2 for these (not installed: a traceback), and
    `postgres://` is how Heroku-style services print the same database."""
    for source in ({"database_url": given}, None):
        env = {"DATABASE_URL": given} if source is None else {}
        s = Settings.load(source, environ=env)
        assert s.database_url == "postgresql+psycopg://ops:pw@db:5433/cp"
    other = "postgresql+psycopg2://ops:pw@db/cp"  # a driver named on purpose is kept
    assert Settings.load(environ={"DATABASE_URL": other}).database_url == other


def test_gate_settings_come_from_the_environment() -> None:
    s = Settings.load(environ={"GATE_MIN_FACE_PX": "24", "GATE_MAX_YAW": "40"})
    assert (s.gate_min_face_px, s.gate_max_yaw, s.gate_max_pitch) == (24.0, 40.0, 30.0)
    assert {"gate_min_face_px", "gate_max_yaw"} <= s.explicit


def test_partial_engagement_weights_keep_the_other_defaults() -> None:
    s = Settings.load(environ={"ENGAGEMENT_WEIGHTS": "neutral=0.8, happy=0.7"})
    assert s.engagement_weights["neutral"] == 0.8
    assert s.engagement_weights["happy"] == 0.7
    assert s.engagement_weights["sad"] == 0.3
    assert weights_vector(s.engagement_weights)[EMOTIONS.index("neutral")] == 0.8


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "'localhost' is not host:port"),
        ({"DATABASE_URL": "classpulse.db"}, "'classpulse.db' is not a SQLAlchemy URL"),
        ({"DATABASE_URL": "postgresql:/alice:s3cret@db/cp"},
         "DATABASE_URL 'postgresql:/alice:***@db/cp' is not a SQLAlchemy URL"),
        ({"DATABASE_URL": "host=db password=s3cret"},
         "DATABASE_URL 'host=db password=***' is not a SQLAlchemy URL"),
        ({"DATABASE_URL": "mysql://ops:pw@db/cp"},
         "'mysql://ops:***@db/cp' is a mysql database, which ClassPulse does not support"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "kafka:70000"}, "'kafka:70000' is not host:port"),
        # '²'.isdigit() is True and int('²') a ValueError traceback; int('٨٠') is 80
        ({"KAFKA_BOOTSTRAP_SERVERS": "kafka:²"}, "'kafka:²' is not host:port"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "kafka:٨٠"}, "'kafka:٨٠' is not host:port"),
        ({"MIN_FACES_SHOWN": "three"}, "MIN_FACES_SHOWN='three'"),
        ({"MIN_FACES_SHOWN": "1"}, "MIN_FACES_SHOWN=1 (or --min-faces-shown) would show minutes "
                                   "in which a camera read one face at a time, a single "
                                   "child's; give 2 or more"),
        ({"MIN_FACES_SHOWN": "1001"}, "MIN_FACES_SHOWN=1001 (or --min-faces-shown) is more faces "
                                      "than a camera sees at once and would hide every minute; "
                                      "give 1000 or fewer"),
        ({"ENGAGEMENT_WEIGHTS": "bored=0.1"}, "'bored=0.1'"),
        ({"ENGAGEMENT_WEIGHTS": "happy=2"}, "[0, 1]"),
        ({"CLASSPULSE_DEVICE": "tpu"}, "'tpu'"),
        ({"CLASSPULSE_MAX_CLOCK_SKEW_S": "soon"}, "CLASSPULSE_MAX_CLOCK_SKEW_S='soon'"),
        ({"CLASSPULSE_MAX_CLOCK_SKEW_S": "-1"}, "must lie in 0-3600"),
        ({"CLASSPULSE_MAX_CLOCK_SKEW_S": "nan"}, "must lie in 0-3600"),
        ({"GATE_MIN_FACE_PX": "big"}, "GATE_MIN_FACE_PX='big' is not a number"),
        ({"GATE_MIN_CONFIDENCE": "1.5"}, "GATE_MIN_CONFIDENCE=1.5 is outside [0, 1]"),
        ({"GATE_MAX_PITCH": "-5"}, "GATE_MAX_PITCH=-5.0 is outside [0, 90]"),
    ],
)
def test_bad_values_are_named_in_the_error(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(environ=env)
    assert needle in str(info.value)
    assert "s3cret" not in str(info.value)


def test_a_stored_threshold_above_the_greatest_is_laid_over_the_settings() -> None:
    """The greatest MIN_FACES_SHOWN binds the environment and the flag; the dashboard lays the
    database's stored threshold over the settings, and the database has no such bound (an older
    `db upgrade` may have stored 5000): that crashed the page."""
    assert Settings.load(environ={}).with_overrides(min_faces_shown=5000).min_faces_shown == 5000
    for flags, env in (({}, {"MIN_FACES_SHOWN": "5000"}), ({"min_faces_shown": 5000}, {})):
        with pytest.raises(SettingsError) as refused:
            Settings.load(flags, environ=env)
        assert str(refused.value) == (
            "MIN_FACES_SHOWN=5000 (or --min-faces-shown) is more faces than a camera sees at "
            "once and would hide every minute; give 1000 or fewer")


@pytest.mark.parametrize("topic", ["a/b", "frames\x1b[31m", "x" * 250, ".", "..", "a b",
                                   "cl\u00e4sse", "frames\n"])
def test_a_topic_kafka_would_refuse_is_refused_here(topic: str) -> None:
    """Only whitespace was refused: `a/b` passed, and the consumer died with a traceback at
    subscribe, after loading the networks."""
    with pytest.raises(SettingsError) as info:
        Settings.load({"kafka_topic": topic}, environ={})
    assert str(info.value) == (
        f"KAFKA_TOPIC (or --topic) {topic!r} is not a Kafka topic name; use 1-249 letters, "
        "digits, '.', '_' or '-' (not '.' or '..' alone)")


@pytest.mark.parametrize("topic", ["classpulse.frames", "a", "A-b_c.9", "x" * 249, "..."])
def test_every_topic_name_kafka_takes_is_taken(topic: str) -> None:
    assert Settings.load({"kafka_topic": topic}, environ={}).kafka_topic == topic


def test_settings_are_frozen() -> None:
    s = Settings.load(environ={"DATABASE_URL": "postgresql+psycopg://ops:secret@db/cp",
                               "DASHBOARD_PASSWORD": "pw"})
    with pytest.raises(AttributeError):
        s.kafka_topic = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.engagement_weights["happy"] = 1.0  # type: ignore[index]


def test_repr_shows_no_password() -> None:
    """repr showed DASHBOARD_PASSWORD and the database URL's password, to any log line or
    traceback that printed the settings."""
    s = Settings.load(environ={"DATABASE_URL": "postgresql+psycopg://ops:s3cretdb@db/cp",
                               "DASHBOARD_PASSWORD": "s3cretpage",
                               "DASHBOARD_DB_PASSWORD": "s3cretrole"})
    shown = repr(s)
    assert "s3cret" not in shown
    assert "database_url='postgresql+psycopg://ops:***@db/cp'" in shown
    assert shown.startswith("Settings(kafka_bootstrap_servers='127.0.0.1:9092', ")


@pytest.mark.parametrize(("weights", "wrong"), [
    ({**DEFAULT_ENGAGEMENT_WEIGHTS, "bored": 0.1}, "unknown: ['bored']"),
    ({e: w for e, w in DEFAULT_ENGAGEMENT_WEIGHTS.items() if e != "sad"}, "missing: ['sad']"),
], ids=["extra", "missing"])
def test_weights_that_are_not_the_seven_emotions_are_named(weights: dict[str, float],
                                                           wrong: str) -> None:
    """Settings checked the weights apart from ``weights_vector``, and said "missing []" for an
    emotion too many. One check, one message, for settings and the stored weights alike."""
    with pytest.raises(SettingsError) as info:
        Settings(engagement_weights=weights)
    with pytest.raises(ValueError) as same:
        weights_vector(weights)
    assert str(info.value) == str(same.value) == (
        f"engagement weights must name exactly the seven emotions {list(EMOTIONS)}; {wrong}")
