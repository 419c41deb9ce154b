"""Reading the deployment files the way their tools do, without Docker.

There is no Docker engine in CI, and often no `docker compose`. What `docker compose config` does
before it talks to an engine is (1) interpolate ``${VAR}`` expressions from the environment and
(2) validate the result against the Compose Specification's JSON schema. Both are done here: the
interpolation follows the specification's rules, the schema is the official one that
check-jsonschema (a `dev` dependency) vendors as ``vendor.compose-spec``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "compose.yaml"
COMPOSE_CPU_FILE = REPO_ROOT / "compose.cpu.yaml"  # the override for machines without a GPU
COMPOSE_SSO_FILE = REPO_ROOT / "compose.sso.yaml"  # the override for the school's single sign-on
# the override that publishes Kafka's unauthenticated EXTERNAL listener for other hosts
COMPOSE_REMOTE_FILE = REPO_ROOT / "compose.remote.yaml"
SECRETS_EXAMPLE = REPO_ROOT / "deploy" / "secrets.example.toml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
ENV_EXAMPLE = REPO_ROOT / "deploy" / ".env.example"
CAMERAS_EXAMPLE = REPO_ROOT / "deploy" / "cameras.example.yaml"
DEPLOY_DOC = REPO_ROOT / "README.md"  # the "Deploying in a school" section

_DOLLAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[_A-Za-z][_A-Za-z0-9]*))"
)
_BRACED = re.compile(r"(?P<name>[_A-Za-z][_A-Za-z0-9]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


class InterpolationError(ValueError):
    """A required variable is missing, or an expression is malformed (compose refuses to run)."""


def variables(text: str) -> dict[str, str | None]:
    """Names used in ``${...}`` / ``$NAME`` expressions of ``text``, each with its operator."""
    found: dict[str, str | None] = {}
    for match in _DOLLAR.finditer(text):
        if match["escaped"]:
            continue
        braced = _BRACED.fullmatch(match["braced"]) if match["braced"] is not None else None
        name = braced["name"] if braced else match["named"]
        if name:
            found.setdefault(name, braced["op"] if braced else None)
    return found


def interpolate_text(text: str, env: Mapping[str, str]) -> str:
    """One string with Compose interpolation: ``$$``, ``$V``, ``${V}``, ``:-``, ``-``, ``:?``,
    ``?``, ``:+``, ``+`` (the colon forms treat an empty value like an unset one)."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        braced = _BRACED.fullmatch(match["braced"])
        if braced is None:
            raise InterpolationError(f"invalid interpolation format {match.group(0)!r}")
        name, op, arg = braced["name"], braced["op"], braced["arg"]
        value = env.get(name)
        unset = value is None or (op is not None and op.startswith(":") and value == "")
        if op is None:
            return value or ""
        if op.endswith("-"):
            return arg if unset else value
        if op.endswith("?"):
            if unset:
                raise InterpolationError(f"required variable {name} is missing a value: {arg}")
            return value
        return "" if unset else arg  # ":+" and "+"

    return _DOLLAR.sub(replace, text)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string value of a parsed Compose file (keys are left as they are)."""
    if isinstance(node, str):
        return interpolate_text(node, env)
    if isinstance(node, Mapping):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    return node


def raw_compose() -> dict[str, Any]:
    """compose.yaml parsed (anchors and ``<<`` merges resolved), not yet interpolated."""
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


class _Reset:
    """Compose's ``!reset`` tag in an override file: the key is removed from the merged file."""


class _OverrideLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus Compose's ``!reset`` tag."""


_OverrideLoader.add_constructor("!reset", lambda loader, node: _Reset())


def raw_override(path: Path) -> dict[str, Any]:
    """An override file parsed like :func:`raw_compose`, ``!reset`` kept as a marker."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_OverrideLoader)


def merge(base: Any, override: Any) -> Any:
    """``override`` merged onto ``base`` as `docker compose -f base -f override` does for what our
    override files use: mappings merge key by key, ``!reset`` removes a key, and any other value
    (a string, a list such as ``command``) replaces the base's."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            if isinstance(value, _Reset):
                merged.pop(key, None)
            else:
                merged[key] = merge(base.get(key), value)
        return merged
    return override


def compose_schema() -> dict[str, Any]:
    """The Compose Specification JSON schema, as shipped by check-jsonschema."""
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8"))


def command_list(command: str | list[str]) -> list[str]:
    """A service's ``command`` as a list (the string form is split like a shell would)."""
    if isinstance(command, list):
        return [str(part) for part in command]
    import shlex

    return shlex.split(command)


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    pairs = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def env_example_shown() -> dict[str, str]:
    """The optional variables of deploy/.env.example with the value each commented line shows."""
    shown = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"#\s*(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)", line)
        if match:
            shown[match["name"]] = match["value"]
    return shown


def env_example_names() -> dict[str, str | None]:
    """Variables named in deploy/.env.example: value when set, None when only shown commented."""
    names: dict[str, str | None] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"(?P<comment>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)", line)
        if match:
            names[match["name"]] = None if match["comment"] else match["value"]
    return names
