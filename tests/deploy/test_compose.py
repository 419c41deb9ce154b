"""The production stack: compose.yaml, the Dockerfile and the files in deploy/.

compose.yaml is checked the way `docker compose config` would check it (interpolation, then the
Compose Specification schema), then for what matters to a school: secrets only from the
environment, health checks and restart policies, a GPU per consumer, a frames topic that forgets
after one hour, and commands that our real argument parser accepts.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from importlib.util import find_spec
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy.engine import make_url

from classpulse.cli import build_parser
from classpulse.db.rule import requested_min_faces
from classpulse.db.weights import requested_weights
from classpulse.settings import APP_DB_ROLES, DEFAULT_TOPIC, GATE_LIMITS, Settings
from classpulse.topics import (
    FRAMES_RETENTION_MS,
    FRAMES_SEGMENT_MS,
    FRAMES_TIMESTAMP_TYPE,
    FRAMES_TOPIC_CONFIGS,
)
from classpulse.wire import DEFAULT_MAX_BYTES
from dashboard.auth import ALLOWED_DOMAINS_KEY, ALLOWED_EMAILS_KEY, Allowlist, AllowlistError
from producers.camera import WORKERS_STOP_TIMEOUT_S
from producers.cli import cameras_from_args
from producers.config import load_cameras
from producers.publisher import DEFAULT_CLOSE_TIMEOUT_S
from tests.deploy.compose_file import (
    CAMERAS_EXAMPLE,
    COMPOSE_CPU_FILE,
    COMPOSE_FILE,
    COMPOSE_REMOTE_FILE,
    COMPOSE_SSO_FILE,
    DEPLOY_DOC,
    DOCKERFILE,
    DOCKERIGNORE,
    ENV_EXAMPLE,
    REPO_ROOT,
    SECRETS_EXAMPLE,
    InterpolationError,
    command_list,
    compose_schema,
    dockerfile_instructions,
    env_example_names,
    env_example_shown,
    interpolate,
    interpolate_text,
    merge,
    raw_compose,
    raw_override,
    variables,
)

# what an operator's .env holds (test values, not anyone's password)
ENV = {"POSTGRES_PASSWORD": "pgsecret4test", "DASHBOARD_PASSWORD": "dashsecret4test",
       "DASHBOARD_DB_PASSWORD": "dashdb4test", "CONSUMER_DB_PASSWORD": "consumerdb4test"}
SECRETS = ("POSTGRES_PASSWORD", "DASHBOARD_PASSWORD", "DASHBOARD_DB_PASSWORD",
           "CONSUMER_DB_PASSWORD")
# who logs in to PostgreSQL with which password: the owner (compose's POSTGRES_USER, a superuser)
# and the services' own roles
OWNER = "classpulse"
DB_PASSWORDS = {OWNER: "POSTGRES_PASSWORD",
                **{app.role: app.variable for app in APP_DB_ROLES.values()}}
ONE_SHOT = {"kafka-init", "migrate"}
APP_SERVICES = {"migrate", "producer", "consumer", "dashboard"}
CAMERAS_IN_CONTAINER = "/etc/classpulse/cameras.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return interpolate(raw_compose(), ENV)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _environ(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as its container sees it (compose writes every value as text)."""
    return {k: "" if v is None else str(v) for k, v in service.get("environment", {}).items()}


def _init_script(services: dict[str, dict[str, Any]]) -> str:
    """kafka-init's script with its variables expanded from its environment, as bash does."""
    init = services["kafka-init"]
    script = " ".join(init["entrypoint"] + command_list(init["command"])).replace("\\\n", " ")
    expanded = interpolate_text(script, _environ(init)).replace('"', "")
    return "\n".join(" ".join(line.split()) for line in expanded.splitlines())


def _schema_errors(document: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(compose_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    assert _schema_errors(compose) == []
    # the schema is strict enough to catch a misspelt key (so the check above means something)
    broken = copy.deepcopy(compose)
    broken["services"]["consumer"]["depend_on"] = broken["services"]["consumer"].pop("depends_on")
    assert any("depend_on" in error for error in _schema_errors(broken))


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("value", [None, ""])
def test_compose_refuses_to_start_without_a_secret(secret: str, value: str | None) -> None:
    env = {k: v for k, v in ENV.items() if k != secret}
    if value is not None:
        env[secret] = value
    with pytest.raises(InterpolationError, match=secret):
        interpolate(raw_compose(), env)


def test_the_stack_has_kafka_kraft_postgres_and_the_four_parts(
    services: dict[str, dict[str, Any]],
) -> None:
    assert set(services) == {"kafka", "kafka-init", "postgres", *APP_SERVICES}
    for name in ("kafka", "kafka-init"):
        assert re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+", services[name]["image"])
    assert re.fullmatch(r"postgres:\d+", services["postgres"]["image"])
    kafka_env = services["kafka"]["environment"]
    assert set(kafka_env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in kafka_env)
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    images = {services[name]["image"] for name in APP_SERVICES}
    assert images == {"classpulse:latest"}
    assert all(services[name]["build"]["dockerfile"] == "Dockerfile" for name in APP_SERVICES)


def test_every_service_is_health_checked_or_one_shot_and_restarts(
    services: dict[str, dict[str, Any]],
) -> None:
    waited_on = {
        target
        for svc in services.values()
        for target, dep in svc.get("depends_on", {}).items()
        if dep["condition"] == "service_completed_successfully"
    }
    for name, svc in services.items():
        if name in ONE_SHOT:
            assert svc["restart"] == "no", name
            assert name in waited_on, f"nothing waits for one-shot {name}"
        else:
            assert svc["restart"] == "unless-stopped", name
            test = svc["healthcheck"]["test"]
            assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name


def test_depends_on_waits_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for target, dep in svc.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            if dep["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} -> {target}"
            else:
                assert dep["condition"] == "service_completed_successfully", f"{name} -> {target}"
                assert target in ONE_SHOT, f"{name} -> {target}"
    consumer_deps = services["consumer"]["depends_on"]
    assert consumer_deps["migrate"]["condition"] == "service_completed_successfully"
    assert consumer_deps["kafka-init"]["condition"] == "service_completed_successfully"
    assert services["producer"]["depends_on"]["kafka-init"]["condition"] == (
        "service_completed_successfully"
    )


def test_consumer_reserves_one_gpu_and_can_be_scaled(services: dict[str, dict[str, Any]]) -> None:
    consumer = services["consumer"]
    devices = consumer["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    # `--scale consumer=N` needs no fixed container name and no host port
    assert "container_name" not in consumer
    assert "ports" not in consumer
    assert "9100" in consumer["expose"]


def test_no_literal_password_anywhere_in_compose_file(services: dict[str, dict[str, Any]]) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for value in ENV.values():
        assert value not in text
    # every credential in a URL is an interpolation of its user's password variable
    credentials = re.findall(r"://([^/\s:@]+):(\$\{[^}]*\}|[^@\s]+)@", text)
    assert {user for user, _ in credentials} == set(DB_PASSWORDS)
    assert all(c.startswith(f"${{{DB_PASSWORDS[user]}:?") for user, c in credentials), credentials
    for match in re.finditer(r"^\s*([A-Z_]*PASSWORD[A-Z_]*):\s*(.*)$", text, re.M):
        assert match[2].startswith(f"${{{match[1]}:?"), match.group(0)
    # ... and the values really come from the environment
    for name, user in (("migrate", OWNER), ("consumer", APP_DB_ROLES["consumer"].role),
                       ("dashboard", APP_DB_ROLES["dashboard"].role)):
        db_url = make_url(services[name]["environment"]["DATABASE_URL"])
        assert (db_url.username, db_url.password) == (user, ENV[DB_PASSWORDS[user]]), name
    assert services["dashboard"]["environment"]["DASHBOARD_PASSWORD"] == ENV["DASHBOARD_PASSWORD"]


def test_only_migrate_logs_in_as_the_owner_and_makes_the_others_roles() -> None:
    """The owner is PostgreSQL's bootstrap superuser (COPY ... TO PROGRAM runs a shell on the
    database server): the network-facing dashboard and the consumers log in as roles of their
    own, which migrate (`db upgrade --app-roles`) creates with the passwords they log in with."""
    for document in (interpolate(raw_compose(), ENV), _cpu_compose(),
                     interpolate(merge(raw_compose(), raw_override(COMPOSE_SSO_FILE)), ENV)):
        services = document["services"]
        postgres = services["postgres"]["environment"]
        assert (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"]) == (
            OWNER, ENV["POSTGRES_PASSWORD"])
        users = {name: make_url(Settings.load(environ=_environ(svc)).database_url).username
                 for name, svc in services.items() if "DATABASE_URL" in _environ(svc)}
        assert users == {"migrate": OWNER, **{kind: app.role
                                              for kind, app in APP_DB_ROLES.items()}}
        migrate = Settings.load(environ=_environ(services["migrate"]))
        for kind, app in APP_DB_ROLES.items():
            url = make_url(Settings.load(environ=_environ(services[kind])).database_url)
            assert getattr(migrate, app.field) == url.password == ENV[app.variable], kind
            # the role's password reaches no other service, the owner's none but migrate
            others = [n for n, svc in services.items()
                      if n not in ("migrate", kind) and ENV[app.variable] in str(svc)]
            assert others == [], kind
        owners = [n for n, svc in services.items()
                  if ENV["POSTGRES_PASSWORD"] in str(svc) and n not in ("migrate", "postgres")]
        assert owners == []
        args = build_parser().parse_args(command_list(services["migrate"]["command"])[1:])
        assert (args.db_action, args.app_roles) == ("upgrade", True)


def test_env_example_names_every_variable_and_holds_no_password() -> None:
    used = variables("\n".join(path.read_text(encoding="utf-8") for path in (
        COMPOSE_FILE, COMPOSE_CPU_FILE, COMPOSE_SSO_FILE, COMPOSE_REMOTE_FILE)))
    documented = env_example_names()
    assert set(used) <= set(documented), sorted(set(used) - set(documented))
    required = {name for name, op in used.items() if op and op.endswith("?")}
    assert required == set(SECRETS)
    for name in required:
        assert documented[name] == "", f"{name} must be left empty in .env.example"
    assert all(value in (None, "") for value in documented.values())


def test_env_example_shows_the_defaults() -> None:
    """Setting every optional variable to the value .env.example shows changes nothing: the
    values shown are the defaults, compose's own or, through the empty default, settings.py's."""
    shown = env_example_shown()
    assert shown.pop("COMPOSE_FILE").startswith(f"{COMPOSE_FILE.name}:")  # test_compose_files_...
    settings_vars = {"MIN_FACES_SHOWN", "ENGAGEMENT_WEIGHTS", "CLASSPULSE_MAX_CLOCK_SKEW_S",
                     "CLASSPULSE_DEVICE", "CLASSPULSE_LOG_LEVEL",
                     *(var for _, var, _, _ in GATE_LIMITS)}
    assert settings_vars <= set(shown), sorted(settings_vars - set(shown))
    plain = interpolate(raw_compose(), ENV)["services"]
    given = interpolate(raw_compose(), {**ENV, **shown})["services"]
    for name, service in plain.items():
        service, with_shown = dict(service), dict(given[name])
        environ, environ_shown = _environ(service), _environ(with_shown)
        service.pop("environment", None), with_shown.pop("environment", None)
        assert service == with_shown, name  # ports, volumes, commands, images
        if name in APP_SERVICES:
            assert Settings.load(environ=environ) == Settings.load(environ=environ_shown), name
        else:
            assert environ == environ_shown, name


def _compose_file_choices() -> list[str]:
    """The COMPOSE_FILE values deploy/.env.example offers, in its order."""
    return [line.split("=", 1)[1] for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
            if re.fullmatch(r"#\s*COMPOSE_FILE=\S+", line)]


def test_compose_files_are_chosen_once_in_dot_env_never_with_f() -> None:
    """The SSO instructions said `docker compose -f compose.yaml -f compose.sso.yaml up`: on a
    host without a GPU that drops compose.cpu.yaml (its consumers ask for a GPU), and the next
    plain `docker compose up -d` drops compose.sso.yaml (the dashboard loses single sign-on).
    COMPOSE_FILE in .env, with every override the host needs, is read by every command."""
    cpu, sso = COMPOSE_CPU_FILE.name, COMPOSE_SSO_FILE.name
    choices = _compose_file_choices()
    assert choices == [f"{COMPOSE_FILE.name}:{cpu}", f"{COMPOSE_FILE.name}:{sso}",
                       f"{COMPOSE_FILE.name}:{cpu}:{sso}"]
    for choice in choices:  # each names files that exist, compose.yaml first, and merges valid
        paths = [REPO_ROOT / name for name in choice.split(":")]
        assert paths[0] == COMPOSE_FILE and all(path.is_file() for path in paths), choice
        raw = raw_compose()
        for path in paths[1:]:
            raw = merge(raw, raw_override(path))
        merged = interpolate(raw, ENV)
        assert _schema_errors(merged) == [], choice
        consumer, dashboard = merged["services"]["consumer"], merged["services"]["dashboard"]
        assert ("deploy" not in consumer) == (cpu in choice), choice
        assert ("volumes" in dashboard) == (sso in choice), choice
    readme = DEPLOY_DOC.read_text(encoding="utf-8")
    code = _doc_code()
    assert f"COMPOSE_FILE={COMPOSE_FILE.name}:{cpu}:{sso}" in code
    for name, text in (("README.md", readme), (ENV_EXAMPLE.name, ENV_EXAMPLE.read_text()),
                       *((path.name, path.read_text(encoding="utf-8")) for path in
                         (COMPOSE_FILE, COMPOSE_CPU_FILE, COMPOSE_SSO_FILE, COMPOSE_REMOTE_FILE))):
        told = re.findall(r"docker compose (?:-f|--file)\b[^`\n]*\b(?:up|run|exec|start)\b",
                          text)
        assert told == [], (name, told)


def test_a_stored_small_group_rule_survives_compose_up() -> None:
    """MIN_FACES_SHOWN was passed as an explicit 3, so `docker compose up` re-stored 3 over an
    admin's `classpulse db upgrade --min-faces-shown 5`; unset in .env, it is now left alone."""
    for env, wanted in ((ENV, None), ({**ENV, "MIN_FACES_SHOWN": "5"}, 5)):
        services = interpolate(raw_compose(), env)["services"]
        for name in ("migrate", "dashboard"):
            settings = Settings.load(environ=_environ(services[name]))
            assert requested_min_faces(settings) == wanted, name
    assert "MIN_FACES_SHOWN: ${MIN_FACES_SHOWN:-}" in COMPOSE_FILE.read_text(encoding="utf-8")


def test_settings_in_dot_env_reach_the_services_that_read_them() -> None:
    """A setting put in .env reaches a container only when compose.yaml passes it on."""
    dot_env = {**ENV, "ENGAGEMENT_WEIGHTS": "neutral=0.8", "GATE_MIN_FACE_PX": "24",
               "GATE_MAX_PITCH": "40", "GATE_MAX_YAW": "45", "GATE_MAX_ROLL": "20",
               "GATE_MIN_CONFIDENCE": "0.4", "CLASSPULSE_MAX_CLOCK_SKEW_S": "5",
               "CLASSPULSE_DEVICE": "auto"}
    services = interpolate(raw_compose(), dot_env)["services"]
    consumer = Settings.load(environ=_environ(services["consumer"]))
    assert (consumer.gate_min_face_px, consumer.gate_max_pitch, consumer.gate_max_yaw,
            consumer.gate_max_roll, consumer.gate_min_confidence) == (24, 40, 45, 20, 0.4)
    assert (consumer.max_clock_skew_s, consumer.device) == (5, "auto")
    # migrate stores them; consumers score with the database's and the dashboard names them
    migrate = Settings.load(environ=_environ(services["migrate"]))
    assert requested_weights(migrate) is not None and migrate.engagement_weights["neutral"] == 0.8
    for name in ("consumer", "dashboard"):
        assert "ENGAGEMENT_WEIGHTS" not in _environ(services[name]), name
    # unset, they keep settings.py's defaults (an empty value is ignored)
    services = interpolate(raw_compose(), ENV)["services"]
    consumer, defaults = Settings.load(environ=_environ(services["consumer"])), Settings()
    for name, _, _, _ in GATE_LIMITS:
        assert getattr(consumer, name) == getattr(defaults, name), name
    assert consumer.engagement_weights == defaults.engagement_weights
    assert consumer.max_clock_skew_s == defaults.max_clock_skew_s


def test_the_log_level_reaches_every_classpulse_service() -> None:
    """One block passes CLASSPULSE_LOG_LEVEL on, empty when unset: settings.py's default holds."""
    for env, wanted in ((ENV, Settings().log_level), ({**ENV, "CLASSPULSE_LOG_LEVEL": "debug"},
                                                      "DEBUG")):
        services = interpolate(raw_compose(), env)["services"]
        for name in sorted(APP_SERVICES):
            assert Settings.load(environ=_environ(services[name])).log_level == wanted, name
    assert COMPOSE_FILE.read_text(encoding="utf-8").count("CLASSPULSE_LOG_LEVEL") == 2


def test_dashboard_is_published_on_localhost_unless_bound_elsewhere() -> None:
    """Plain HTTP carries the teachers' password: the network gets it only when asked."""
    bound = interpolate(raw_compose(), {**ENV, "DASHBOARD_BIND": "0.0.0.0",
                                        "DASHBOARD_PORT": "8080"})["services"]
    assert bound["dashboard"]["ports"] == ["0.0.0.0:8080:8501"]


def _cpu_compose() -> dict[str, Any]:
    return interpolate(merge(raw_compose(), raw_override(COMPOSE_CPU_FILE)), ENV)


def test_cpu_override_runs_the_consumer_without_a_gpu() -> None:
    """compose.yaml reserves an NVIDIA GPU for each consumer, which stops `docker compose up` on a
    machine without one; compose.cpu.yaml removes the reservation and runs the networks on the
    CPU, and changes nothing else."""
    cpu = _cpu_compose()
    assert _schema_errors(cpu) == []
    consumer = cpu["services"]["consumer"]
    assert "deploy" not in consumer
    assert Settings.load(environ=_environ(consumer)).device == "cpu"
    args = build_parser().parse_args(command_list(consumer["command"])[1:])
    assert (args.device, args.metrics_port, args.no_migrate) == (None, 9100, True)
    assert args.metrics_host == "0.0.0.0"
    base = interpolate(raw_compose(), ENV)
    assert {k: v for k, v in cpu["services"].items() if k != "consumer"} == {
        k: v for k, v in base["services"].items() if k != "consumer"}
    gpu_consumer = dict(base["services"]["consumer"])
    del gpu_consumer["deploy"]
    gpu_consumer["environment"] = {**gpu_consumer["environment"], "CLASSPULSE_DEVICE": "cpu"}
    assert consumer == gpu_consumer
    assert {k for k in cpu if k != "services"} == {k for k in base if k != "services"}


SECRET = "pVh3Zq0yK8rT1mXc5NwB7uJd2LfA9sEgQ4iYoR6tH0k"  # as secrets.token_urlsafe(32) gives one


def test_sso_override_hands_the_dashboard_its_secrets_and_changes_nothing_else() -> None:
    """compose.sso.yaml mounts the school's OIDC settings where Streamlit reads them (the image's
    HOME), read-only, from a git-ignored file; the image has Authlib, which st.login needs."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11's")
    sso = interpolate(merge(raw_compose(), raw_override(COMPOSE_SSO_FILE)), ENV)
    assert _schema_errors(sso) == []
    envs = [args for name, args in dockerfile_instructions(DOCKERFILE.read_text()) if name == "ENV"]
    assert any("HOME=/home/classpulse" in args.split() for args in envs)
    (mount,) = sso["services"]["dashboard"]["volumes"]
    assert mount == {"type": "bind", "source": "./deploy/secrets.toml",
                     "target": "/home/classpulse/.streamlit/secrets.toml", "read_only": True}
    base = interpolate(raw_compose(), ENV)
    dashboard = dict(sso["services"]["dashboard"])
    del dashboard["volumes"]
    assert dashboard == base["services"]["dashboard"]
    assert {k: v for k, v in sso["services"].items() if k != "dashboard"} == {
        k: v for k, v in base["services"].items() if k != "dashboard"}
    assert "/deploy/secrets.toml" in (REPO_ROOT / ".gitignore").read_text().splitlines()
    example = tomllib.loads(SECRETS_EXAMPLE.read_text(encoding="utf-8"))
    assert set(example["auth"]) == {"redirect_uri", "cookie_secret", "client_id",
                                    "client_secret", "server_metadata_url",
                                    ALLOWED_DOMAINS_KEY, ALLOWED_EMAILS_KEY}
    assert not any(example["auth"][k] for k in ("cookie_secret", "client_id", "client_secret"))
    # copied and left as it is, the example lets nobody in: the operator must set a cookie
    # secret, then say who may
    with pytest.raises(AllowlistError, match="cookie_secret in \\[auth\\] is empty"):
        Allowlist.from_auth(example["auth"])
    with pytest.raises(AllowlistError, match=ALLOWED_DOMAINS_KEY):
        Allowlist.from_auth({**example["auth"], "cookie_secret": SECRET})
    filled = {**example["auth"], "cookie_secret": SECRET,
              ALLOWED_DOMAINS_KEY: ["school.example"]}
    assert Allowlist.from_auth(filled).refusal("teacher@school.example", True) is None
    assert find_spec("authlib") is not None


def _published(services: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    return {name: service["ports"] for name, service in services.items() if "ports" in service}


def test_kafka_publishes_no_port_unless_consumers_run_on_other_hosts() -> None:
    """compose.yaml published Kafka's EXTERNAL listener (plaintext, no authentication) on
    127.0.0.1:9094 on every host, so any local account could read the live classroom frames,
    though this stack's services use kafka:9092. Only compose.remote.yaml publishes it now, for
    consumers and producers on other hosts, and changes nothing else."""
    base = interpolate(raw_compose(), ENV)
    assert "ports" not in base["services"]["kafka"]
    assert not [port for ports in _published(base["services"]).values() for port in ports
                if "9094" in str(port) or "9092" in str(port)]
    remote = interpolate(merge(raw_compose(), raw_override(COMPOSE_REMOTE_FILE)), ENV)
    assert _schema_errors(remote) == []
    assert remote["services"]["kafka"]["ports"] == ["127.0.0.1:9094:9094"]
    kafka = dict(remote["services"]["kafka"])
    del kafka["ports"]
    assert kafka == base["services"]["kafka"]
    assert {k: v for k, v in remote["services"].items() if k != "kafka"} == {
        k: v for k, v in base["services"].items() if k != "kafka"}
    assert {k: v for k, v in remote.items() if k != "services"} == {
        k: v for k, v in base.items() if k != "services"}
    bound = interpolate(merge(raw_compose(), raw_override(COMPOSE_REMOTE_FILE)),
                        {**ENV, "KAFKA_EXTERNAL_BIND": "10.20.0.5"})
    assert bound["services"]["kafka"]["ports"] == ["10.20.0.5:9094:9094"]
    # after every set of overrides .env offers, too (named last in COMPOSE_FILE, as documented)
    for choice in _compose_file_choices():
        raw = raw_compose()
        for name in [*choice.split(":")[1:], COMPOSE_REMOTE_FILE.name]:
            raw = merge(raw, raw_override(REPO_ROOT / name))
        merged = interpolate(raw, ENV)
        assert _schema_errors(merged) == [], choice
        assert merged["services"]["kafka"]["ports"] == ["127.0.0.1:9094:9094"], choice
    readme = DEPLOY_DOC.read_text(encoding="utf-8")
    section = readme[readme.index("### Scaling the consumers"):readme.index("### Sizing")]
    assert f"COMPOSE_FILE={COMPOSE_FILE.name}:{COMPOSE_REMOTE_FILE.name}" in section
    assert COMPOSE_REMOTE_FILE.name in ENV_EXAMPLE.read_text(encoding="utf-8")


def test_frames_topic_is_created_with_one_hour_retention(
    services: dict[str, dict[str, Any]],
) -> None:
    init = services["kafka-init"]
    script = _init_script(services)
    create = next(line for line in script.split("\n") if "--create" in line)
    assert "/opt/kafka/bin/kafka-topics.sh" in create
    assert "--if-not-exists" in create
    assert f"--topic {DEFAULT_TOPIC}" in create
    assert "--config retention.ms=3600000 --config segment.ms=600000" in create
    alter = next(line for line in script.split("\n") if "--alter" in line)
    assert f"--entity-name {DEFAULT_TOPIC} --add-config retention.ms=3600000,segment.ms=600000" in (
        alter)
    assert int(re.search(r"--partitions (\d+)", create)[1]) >= 12
    assert init["image"] == services["kafka"]["image"]
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert kafka_env["KAFKA_LOG_RETENTION_MS"] == 3_600_000
    assert kafka_env["KAFKA_LOG_MESSAGE_TIMESTAMP_TYPE"] == "LogAppendTime"
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["environment"].get("KAFKA_TOPIC", DEFAULT_TOPIC) == DEFAULT_TOPIC


def test_compose_keeps_frames_as_long_as_classpulse_creates_the_topic_to() -> None:
    """kafka-init (compose) and `classpulse produce --partitions` (everywhere else) create the
    same topic: one hour in 10-minute segments, declared once in classpulse/topics.py."""
    frames = raw_compose()["x-frames"]
    assert (frames["retention-ms"], frames["segment-ms"]) == (FRAMES_RETENTION_MS,
                                                              FRAMES_SEGMENT_MS)
    assert frames["timestamp-type"] == FRAMES_TIMESTAMP_TYPE


def test_kafka_init_gives_the_topic_every_setting_classpulse_creates_it_with(
    services: dict[str, dict[str, Any]],
) -> None:
    """Retention ran on the producers' clocks (CreateTime, Kafka's default): Kafka deletes a
    segment by its newest timestamp and Kafka 4 takes stamps up to an hour ahead, so one producer
    with a fast clock kept everyone's frames about two hours. kafka-init creates the topic, and
    sets an existing one, with ClassPulse's settings, LogAppendTime among them."""
    assert FRAMES_TOPIC_CONFIGS["message.timestamp.type"] == "LogAppendTime"
    lines = _init_script(services).split("\n")
    create = next(line for line in lines if "--create" in line)
    created = dict(item.split("=", 1) for item in re.findall(r"--config (\S+)", create))
    alter = next(line for line in lines if "--alter" in line)
    altered = dict(item.split("=", 1)
                   for item in re.search(r"--add-config (\S+)", alter)[1].split(","))
    for settings in (created, altered):
        assert {k: settings.get(k) for k in FRAMES_TOPIC_CONFIGS} == FRAMES_TOPIC_CONFIGS


def test_the_privacy_promise_says_what_the_retention_does_not_cover() -> None:
    """"Up to about 75 minutes" held only while Kafka runs; deleted segments are unlinked, not
    wiped; memory can be swapped; and a shown minute was said to mean that many different
    people, where the rule counts detections (posters, screens)."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    promise = " ".join(text[text.index("## Privacy promise"):text.index("## Two commands")].split())
    for needle in ("deletes nothing while it is stopped", "unlinked, not overwritten",
                   "swapped to disk", "swap off or encrypted",
                   "`docker volume rm classpulse_kafka-data`", "a poster or a screen counts too"):
        assert needle in promise, needle
    assert "different people" not in text
    assert "leave the consumer for the database" in promise


def _networks(service: dict[str, Any]) -> set[str]:
    """The networks a service joins (a list or a mapping; none named: compose's `default`)."""
    return set(service.get("networks") or ["default"])


@pytest.mark.parametrize("override", [None, COMPOSE_CPU_FILE, COMPOSE_SSO_FILE,
                                      COMPOSE_REMOTE_FILE], ids=["gpu", "cpu", "sso", "remote"])
def test_the_dashboard_shares_no_network_with_kafka(override: Any) -> None:
    """Every service was on compose's one default network, so the web-facing dashboard container
    could reach kafka:9092 (plaintext, no authentication) and read the live frames. Frames travel
    on `frames`, the database on `db`; only the consumers, which need both, join both."""
    raw = raw_compose() if override is None else merge(raw_compose(), raw_override(override))
    document = interpolate(raw, ENV)
    assert _schema_errors(document) == []
    services = document["services"]
    joined = {name: _networks(service) for name, service in services.items()}
    assert all("networks" in service for service in services.values()), joined  # no default
    assert set().union(*joined.values()) <= set(document["networks"])
    assert joined["dashboard"] & joined["kafka"] == set()
    assert joined["dashboard"] & joined["postgres"]
    with_kafka = {name for name, nets in joined.items() if nets & joined["kafka"]}
    assert with_kafka == {"kafka", "kafka-init", "producer", "consumer"}
    with_postgres = {name for name, nets in joined.items() if nets & joined["postgres"]}
    assert with_postgres == {"postgres", "migrate", "consumer", "dashboard"}
    # the consumers' metrics port: a Prometheus joining this network reaches nothing else
    metrics = {name for name, nets in joined.items() if "metrics" in nets}
    assert metrics == {"consumer"}


def _seconds(duration: str) -> float:
    """A Compose duration (``1m30s``, ``45s``, ``500ms``) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_the_producer_is_given_time_to_close_before_it_is_killed(
    services: dict[str, dict[str, Any]],
) -> None:
    """At SIGTERM the cameras stop, then the frames in flight get produce's close timeout to be
    acknowledged, then the summary is printed; compose's default 10 s killed it before."""
    producer = services["producer"]
    args = build_parser().parse_args(command_list(producer["command"])[1:])
    assert args.close_timeout == DEFAULT_CLOSE_TIMEOUT_S
    needed = WORKERS_STOP_TIMEOUT_S + args.close_timeout + 5  # 5 s for the rest of the exit
    assert _seconds(producer["stop_grace_period"]) >= needed


def test_no_service_holding_frames_writes_a_core_dump() -> None:
    """A crash in FFmpeg, OpenCV, torch or the Kafka broker's JVM must not leave memory full of
    frames on disk."""
    for document in (interpolate(raw_compose(), ENV), _cpu_compose()):
        for name in (*APP_SERVICES, "kafka"):
            assert document["services"][name]["ulimits"] == {"core": 0}, name


def test_partitions_follow_frames_partitions_from_env() -> None:
    services = interpolate(raw_compose(), {**ENV, "FRAMES_PARTITIONS": "24"})["services"]
    assert "--partitions 24 " in _init_script(services)
    producer = build_parser().parse_args(command_list(services["producer"]["command"])[1:])
    assert producer.partitions == 24


def test_the_producer_creates_a_lost_topic_as_kafka_init_does(
    services: dict[str, dict[str, Any]],
) -> None:
    """A broker whose data lives in memory comes back without the topic after a power cut, and
    kafka-init (a one-shot) does not run again then: the producer, which Docker restarts, creates
    it with the same partitions (and, in classpulse.topics, the same retention) instead of
    stopping again and again."""
    producer = build_parser().parse_args(command_list(services["producer"]["command"])[1:])
    created = int(re.search(r"--partitions (\d+)", _init_script(services))[1])
    assert producer.partitions == created == 12
    assert services["producer"]["restart"] == "unless-stopped"
    assert services["kafka-init"]["restart"] == "no"
    # one default, declared once in compose.yaml, for both
    assert COMPOSE_FILE.read_text(encoding="utf-8").count("${FRAMES_PARTITIONS") == 1


def test_app_services_run_without_privileges_and_postgres_has_shared_memory(
    services: dict[str, dict[str, Any]],
) -> None:
    """The image's user needs no Linux capability and must not gain one through a setuid
    program; PostgreSQL's parallel queries need more than Docker's 64 MB of /dev/shm. Memory
    limits are left to the operator (README.md, "Sizing"): a fixed one would kill the consumer of
    a big school."""
    for document in (interpolate(raw_compose(), ENV), _cpu_compose()):
        for name in APP_SERVICES:
            service = document["services"][name]
            assert service["cap_drop"] == ["ALL"], name
            assert service["security_opt"] == ["no-new-privileges:true"], name
    for name, service in services.items():
        assert "mem_limit" not in service, name
        assert "limits" not in service.get("deploy", {}).get("resources", {}), name
        if name not in APP_SERVICES:  # images that start as root and switch users themselves
            assert "cap_drop" not in service, name
    units = {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30, "k": 2**10, "m": 2**20, "g": 2**30}
    amount, unit = re.fullmatch(r"(\d+)([a-z]+)", services["postgres"]["shm_size"]).groups()
    assert int(amount) * units[unit] >= 256 * 2**20


def test_another_torch_build_is_chosen_in_one_place() -> None:
    """TORCH_SPEC in .env reaches the image build (for an NVIDIA driver older than the pinned
    torch's CUDA needs); unset, compose passes nothing and the Dockerfile's pin applies, which
    .env.example shows."""
    for name in APP_SERVICES:
        assert raw_compose()["services"][name]["build"]["args"] == ["TORCH_SPEC"], name
    args = [a for name, a in dockerfile_instructions(DOCKERFILE.read_text()) if name == "ARG"]
    (pinned,) = [a.split("=", 1)[1].strip('"') for a in args if a.startswith("TORCH_SPEC=")]
    assert env_example_shown()["TORCH_SPEC"] == pinned
    assert re.fullmatch(r"torch==[\d.]+ torchvision==[\d.]+", pinned)


def test_kafka_accepts_a_full_size_frame(services: dict[str, dict[str, Any]]) -> None:
    headroom = 1024  # headers (camera, classroom, captured_at, seq, v) and the batch header
    assert services["kafka"]["environment"]["KAFKA_MESSAGE_MAX_BYTES"] >= (
        DEFAULT_MAX_BYTES + headroom
    )
    topic_limit = int(re.search(r"max\.message\.bytes=(\d+)", _init_script(services))[1])
    assert topic_limit >= DEFAULT_MAX_BYTES + headroom


def test_every_classpulse_command_parses_with_the_real_parser(
    services: dict[str, dict[str, Any]],
) -> None:
    parsed = {}
    for name, svc in services.items():
        command = command_list(svc.get("command", []))
        if command[:1] == ["classpulse"]:
            parsed[name] = build_parser().parse_args(command[1:])
            assert callable(parsed[name].handler), name
    assert set(parsed) == APP_SERVICES
    assert (parsed["migrate"].command, parsed["migrate"].db_action) == ("db", "upgrade")
    assert parsed["migrate"].app_roles  # then the services' roles, created and granted
    consumer = parsed["consumer"]
    # the device comes from CLASSPULSE_DEVICE, so that .env or compose.cpu.yaml can change it
    assert (consumer.metrics_port, consumer.device, consumer.no_migrate) == (9100, None, True)
    # classpulse listens on 127.0.0.1 by default, which a Prometheus on the metrics network
    # cannot reach; inside the container every interface is the container's own networks, and
    # no host port publishes it
    assert consumer.metrics_host == "0.0.0.0" != Settings().metrics_host
    assert "ports" not in services["consumer"] and "metrics" in services["consumer"]["networks"]
    assert services["consumer"]["expose"] == [str(consumer.metrics_port)]
    (check,) = [part for part in services["consumer"]["healthcheck"]["test"] if "urlopen" in part]
    assert f"http://127.0.0.1:{consumer.metrics_port}/metrics" in check
    assert Settings.load(environ=_environ(services["consumer"])).device == "cuda"
    dashboard = parsed["dashboard"]
    assert (dashboard.host, dashboard.port) == ("0.0.0.0", 8501)  # inside its container
    assert services["dashboard"]["ports"] == ["127.0.0.1:8501:8501"]  # plain HTTP: this host only
    assert parsed["producer"].config == CAMERAS_IN_CONTAINER
    mount = services["producer"]["volumes"][0]
    assert (mount["target"], mount["read_only"]) == (CAMERAS_IN_CONTAINER, True)
    assert mount["source"] == "./deploy/cameras.yaml"


def test_each_app_service_environment_gives_valid_settings(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        environ = {k: str(v) for k, v in services[name]["environment"].items()}
        settings = Settings.load(environ=environ)
        if name != "migrate":
            assert settings.kafka_topic == DEFAULT_TOPIC
        if name != "producer":
            url = make_url(settings.database_url)
            assert (url.drivername, url.host, url.port, url.database) == (
                "postgresql+psycopg", "postgres", 5432, "classpulse"
            )
    consumer = Settings.load(environ={k: str(v) for k, v in
                                      services["consumer"]["environment"].items()})
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"INTERNAL://{consumer.kafka_bootstrap_servers}" in advertised.split(",")
    dashboard = Settings.load(environ={k: str(v) for k, v in
                                       services["dashboard"]["environment"].items()})
    assert dashboard.dashboard_password == ENV["DASHBOARD_PASSWORD"]


def test_cameras_example_loads_as_the_producer_service_would(
    services: dict[str, dict[str, Any]],
) -> None:
    cameras = load_cameras(CAMERAS_EXAMPLE)
    assert [c.id for c in cameras] == ["room-101-front", "room-101-back", "room-204"]
    assert [c.classroom for c in cameras] == ["room-101", "room-101", "room-204"]
    assert all(c.source.startswith("rtsp://") for c in cameras)
    assert [c.fps for c in cameras] == [2.0, 2.0, 1.0]
    assert {(c.max_side, c.jpeg_quality) for c in cameras} == {(1920, 80)}
    # the producer's own command, pointed at the example instead of the mounted file
    command = command_list(services["producer"]["command"])
    command[command.index(CAMERAS_IN_CONTAINER)] = str(CAMERAS_EXAMPLE)
    assert cameras_from_args(build_parser().parse_args(command[1:])) == cameras


def test_dockerfile_installs_the_package_only_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    copied = []
    for instruction, arguments in instructions:
        if instruction in ("COPY", "ADD"):
            words = [w for w in arguments.split() if not w.startswith("--")]
            if "--from=" not in arguments:
                copied += words[:-1]
    for source in copied:
        assert source not in (".", "./"), "COPY of the whole context"
        assert not re.match(r"(\./)?(tests|data|shared|\.\.|runs|artifacts)\b", source), source
    packages = {"classpulse", "producers", "consumers", "model", "dashboard", "pipeline_bench"}
    assert {"pyproject.toml", "README.md"} | packages <= set(copied)
    runs = [args for instruction, args in instructions if instruction == "RUN"]
    assert any(re.search(r"pip install \.(\s|$)", args) for args in runs)
    stages = [i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM"]
    final_stage = instructions[stages[-1]:]
    users = [args for instruction, args in final_stage if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    ignored = set(DOCKERIGNORE.read_text(encoding="utf-8").split())
    assert {"tests", "data", "shared", ".env", ".venv", "runs", "artifacts"} <= ignored
    # dashboard/.streamlit/secrets.toml is one of the files the page reads, and dashboard/ is
    # copied into the build stage: the sign-in's secrets must not travel with it
    assert "**/.streamlit" in ignored


def _doc_code() -> list[str]:
    """Lines of the fenced blocks and inline code spans of the README (deploy section too)."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    fenced = [body for lang, body in re.findall(r"```([a-z]*)\n(.*?)```", text, re.S)
              if lang != "mermaid"]  # the architecture diagram names commands in labels
    prose = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    code = [*fenced, *re.findall(r"`([^`\n]+)`", prose)]
    return [line.strip() for chunk in code for line in chunk.replace("\\\n", " ").splitlines()]


def test_deploy_doc_commands_parse_with_the_real_parser() -> None:
    parser = build_parser()
    subcommands = set(next(a for a in parser._actions if a.dest == "command").choices)
    commands = []
    for line in _doc_code():
        for match in re.finditer(r"(?<![\w./:-])classpulse\s+([a-z][\w-]*)", line):
            if match[1] in subcommands:
                command = line[match.start():].split(" #")[0]
                # usage notation: "[--json FILE]" is optional, "a / b" lists alternatives
                command = re.sub(r"\s\[[^\]]*\]", "", command).split(" / ")[0]
                commands.append(command)
    assert any(c.startswith("classpulse consume ") for c in commands), commands
    for command in commands:
        args = build_parser().parse_args(command_list(command)[1:])
        assert callable(args.handler), command


def test_deploy_doc_never_publishes_the_unauthenticated_ports_to_every_network() -> None:
    """Kafka's EXTERNAL listener has no authentication: bound to 0.0.0.0 it served the frames to
    anyone, and the firewall the doc advised (ufw, INPUT) does not see Docker's published ports.
    The doc binds to one address and filters in DOCKER-USER, on the port the client asked for."""
    code = _doc_code()
    for name in ("KAFKA_EXTERNAL_BIND", "POSTGRES_BIND"):
        assert not [line for line in code if f"{name}=0.0.0.0" in line], name
        assert any(line.startswith(f"{name}=<") for line in code), name
    rules = [line for line in code if line.startswith("sudo iptables -I DOCKER-USER")]
    assert [r.split(" -j ")[-1] for r in rules] == ["DROP", "ACCEPT"]  # inserted: ACCEPT ends first
    assert all("--ctorigdstport $port" in r and " -i " in r for r in rules)
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    assert "for port in 9094 5432; do" in text
    assert "**no authentication" in text


def _fenced_after(heading: str) -> list[str]:
    """The commands of the first fenced block after ``heading`` in the README, comments cut."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    block = re.search(r"```[a-z]*\n(.*?)```", text[text.index(heading):], re.S)[1]
    return [line.split(" #")[0].strip() for line in block.splitlines() if line.strip()]


def test_deploy_doc_restores_and_upgrades_through_migrate() -> None:
    """`docker compose start` ran no migration, so consumers (--no-migrate) refused an older
    dump's schema; `up -d` runs migrate first. An upgrade pulls the base images' updates."""
    restore = _fenced_after("To restore, stop the writers")
    assert restore[-2:] == ["docker compose up -d",
                            "docker compose run --rm migrate classpulse db grant-reader analyst"]
    assert not any(line.startswith("docker compose start") for line in restore)
    upgrade = _fenced_after("### Upgrading")
    assert upgrade[:3] == ["git pull", "docker compose pull --ignore-buildable",
                           "docker compose build --pull"]
    assert upgrade.index("docker compose up -d") > upgrade.index("docker compose build --pull")


def _readable_by_image_user(command: str) -> bool:
    """Whether a ``chown/chgrp ... && chmod MODE`` line leaves the file readable by uid and gid
    10001, the image's user (Dockerfile), and by nobody else but root and its owner."""
    mode = int(re.search(r"chmod (\d{3})", command)[1], 8)
    if re.search(r"chown 10001\b", command):
        return bool(mode & 0o400) and not mode & 0o077
    if re.search(r"chgrp 10001\b", command):
        return bool(mode & 0o040) and not mode & 0o007
    return False


def test_deploy_doc_keeps_secret_files_private_yet_readable_by_the_containers() -> None:
    """A root-owned `chmod 600` cameras.yaml left the producer (uid 10001) restarting on a file it
    could not read; the doc's commands keep the files from other users but not from it."""
    users = [args for name, args in dockerfile_instructions(DOCKERFILE.read_text())
             if name == "USER"]
    assert users[-1] == "10001:10001"
    for path in ("deploy/cameras.yaml", "deploy/secrets.toml"):
        commands = [line for line in _doc_code() if "chmod" in line and path in line]
        assert commands, path
        assert all(_readable_by_image_user(c) for c in commands), commands
    for example in (CAMERAS_EXAMPLE, COMPOSE_FILE):  # the files' own instructions, likewise
        (command,) = [line.lstrip("# ").split("  #")[0] for line in
                      example.read_text(encoding="utf-8").splitlines() if "&& chmod" in line]
        assert _readable_by_image_user(command), (example.name, command)
    assert not _readable_by_image_user("chmod 600 deploy/cameras.yaml")
    assert any(line.startswith("install -m 600 deploy/.env.example .env") for line in _doc_code())


@pytest.mark.postgres
def test_deploy_doc_retention_sql_deletes_only_old_minutes(migrated_pg_url: str) -> None:
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import create_engine, text

    from classpulse.db.seed import seed_minutes
    from classpulse.db.writes import add_rejections

    statements = [line for line in _doc_code() if line.startswith("DELETE FROM")]
    assert {s.split()[2] for s in statements} == {"emotion_minutes", "rejected_frames"}
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    old, recent = now - timedelta(days=400), now - timedelta(days=10)
    engine = create_engine(migrated_pg_url)
    try:
        with engine.begin() as conn:
            seed_minutes(conn, classrooms=("7A",), cameras_per_classroom=2, start=old, minutes=30)
            seed_minutes(conn, classrooms=("7A",), cameras_per_classroom=2, start=recent,
                         minutes=20)
            add_rejections(conn, [(old, "7A-cam1", "not_jpeg", 3),
                                  (recent, "7A-cam1", "not_jpeg", 2)])
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
        with engine.connect() as conn:
            minutes = conn.execute(text(
                "SELECT count(*), min(minute_start) FROM emotion_minutes")).one()
            rejected = conn.execute(text("SELECT sum(count) FROM rejected_frames")).scalar_one()
    finally:
        engine.dispose()
    assert minutes[0] == 20 * 2
    assert minutes[1] == recent
    assert rejected == 2


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker command here")
@pytest.mark.parametrize("files", [[COMPOSE_FILE], [COMPOSE_FILE, COMPOSE_CPU_FILE],
                                   [COMPOSE_FILE, COMPOSE_SSO_FILE],
                                   [COMPOSE_FILE, COMPOSE_REMOTE_FILE]],
                         ids=["gpu", "cpu", "sso", "remote"])
def test_docker_compose_config_accepts_the_file_when_available(files: list[Any]) -> None:
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True,
                             timeout=30, check=False)
    if version.returncode != 0:
        pytest.skip("docker is here without the compose plugin; the schema test covers it")
    result = subprocess.run(
        ["docker", "compose", *(f"--file={path}" for path in files), "config", "--quiet"],
        capture_output=True, text=True, timeout=60, check=False, cwd=REPO_ROOT,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", **ENV},
    )
    assert result.returncode == 0, result.stderr


def test_postgres_is_healthy_only_once_it_listens_on_tcp(
    services: dict[str, dict[str, Any]],
) -> None:
    """`pg_isready` without a host asks the Unix socket, where the image's temporary init server
    (socket only, while it creates a new data directory) already answers: migrate started
    against a server about to stop. Over TCP only the real server answers."""
    import shlex

    (test,) = [part for part in services["postgres"]["healthcheck"]["test"]
               if "pg_isready" in part]
    words = shlex.split(test)
    assert words[words.index("-h") + 1] == "127.0.0.1"
    assert words[words.index("-U") + 1] == OWNER
    assert words[words.index("-d") + 1] == services["postgres"]["environment"]["POSTGRES_DB"]


def _docker_run_options(command: str) -> dict[str, list[str]]:
    """A ``docker run`` line's options before the image, each with its values in order."""
    words = command_list(command)
    options: dict[str, list[str]] = {}
    i = words.index("run") + 1
    flags = {"-d", "--init"}
    while words[i].startswith("-"):
        if words[i] in flags:
            options.setdefault(words[i], []).append("")
            i += 1
        else:
            options.setdefault(words[i], []).append(words[i + 1])
            i += 2
    return options


def test_the_manual_gpu_consumer_has_the_safeguards_of_compose_consumers(
    services: dict[str, dict[str, Any]],
) -> None:
    """README's `docker run` for one consumer per GPU lacked compose's stop grace (Docker's 10 s
    killed the final flush), log rotation, dropped capabilities, no-new-privileges and the core
    dump limit; and its metrics, now on 127.0.0.1 by default, must listen where `-p` reaches."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    (command,) = [" ".join(block.replace("\\\n", " ").split())
                  for block in re.findall(r"```bash\n(.*?)```", text, re.S)
                  if "docker run -d --name classpulse-consumer-gpu1" in block]
    options = _docker_run_options(command)
    consumer = services["consumer"]
    assert options["--stop-timeout"] == [str(int(_seconds(consumer["stop_grace_period"])))]
    logging = consumer["logging"]
    assert options["--log-driver"] == [logging["driver"]]
    assert options["--log-opt"] == [f"{k}={v}" for k, v in logging["options"].items()]
    assert options["--cap-drop"] == consumer["cap_drop"]
    assert options["--security-opt"] == consumer["security_opt"]
    assert options["--ulimit"] == [f"{k}={v}" for k, v in consumer["ulimits"].items()]
    assert "--init" in options and options["--restart"] == [consumer["restart"]]
    assert options["-p"] == ["127.0.0.1:9101:9100"]
    consume = command[command.index("classpulse consume"):]
    args = build_parser().parse_args(command_list(consume)[1:])
    assert (args.metrics_port, args.metrics_host, args.no_migrate) == (9100, "0.0.0.0", True)
