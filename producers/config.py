"""Camera definitions: from command-line flags for one camera, or a cameras.yaml for many."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from classpulse.errors import UsageError
from classpulse.flags import MAX_FPS, MIN_FPS
from classpulse.redact import hide_password
from classpulse.safe_text import safe_text
from classpulse.sources import HTTP_PREFIXES, live_source_identity
from classpulse.wire import DEFAULT_JPEG_QUALITY, DEFAULT_MAX_SIDE, check_id


@dataclass(frozen=True)
class CameraConfig:
    """One camera: where its frames come from and how they are sampled and encoded."""

    id: str
    classroom: str
    source: str
    fps: float = 2.0
    max_side: int = DEFAULT_MAX_SIDE
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    loop: bool = False
    realtime: bool = True

    def __post_init__(self) -> None:
        try:
            check_id("camera", self.id)
            check_id("classroom", self.classroom)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if not self.source:
            raise UsageError(f"camera {self.id!r}: source is empty")
        if not MIN_FPS <= self.fps <= MAX_FPS:
            raise UsageError(f"camera {self.id!r}: fps={self.fps} must lie in [{MIN_FPS:.4g}, "
                             f"{MAX_FPS:g}] (a frame a minute to {MAX_FPS:g} a second)")
        if not 64 <= self.max_side <= 4096:
            raise UsageError(f"camera {self.id!r}: max_side={self.max_side} must lie in [64, 4096]")
        if not 10 <= self.jpeg_quality <= 100:
            raise UsageError(
                f"camera {self.id!r}: jpeg_quality={self.jpeg_quality} must lie in [10, 100]"
            )


_TYPES = {f.name: f.type for f in fields(CameraConfig)}
_CONVERT = {"float": float, "int": int, "bool": bool, "str": str}
_TEXT_KEYS = frozenset(name for name, kind in _TYPES.items() if kind == "str")
_STR_TAG = "tag:yaml.org,2002:str"


class _CamerasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``id``, ``classroom`` and ``source`` as written.

    YAML 1.1 would silently give a camera another name or source: ``classroom: 0101`` the number
    65 (octal), ``12:30`` the number 750 (base 60), ``1_000`` 1000, ``yes`` True; as written,
    they are the text the operator meant, with no quotes needed. Other keys keep YAML's types
    (``fps: 2``, ``loop: true``).
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # `<<: *defaults` merged first, so its keys count too
        node.value = [(key, _as_written(key, value)) for key, value in node.value]
        return super().construct_mapping(node, deep)


def _as_written(key: yaml.Node, value: yaml.Node) -> yaml.Node:
    """``value`` retagged as a string when ``key`` is one of :data:`_TEXT_KEYS` and ``value`` a
    scalar; a mapping or a list stays one, for :func:`_coerce` to refuse."""
    if (isinstance(key, yaml.ScalarNode) and key.value in _TEXT_KEYS
            and isinstance(value, yaml.ScalarNode)):
        return yaml.ScalarNode(_STR_TAG, value.value, value.start_mark, value.end_mark,
                               value.style)
    return value


def load_cameras(path: str | Path, overrides: dict[str, Any] | None = None) -> list[CameraConfig]:
    """Read cameras.yaml: ``cameras:`` a list of mappings with id, classroom, source and options.

    Top-level keys other than ``cameras`` are defaults for every camera (e.g. ``fps: 1``), which a
    camera's own keys replace. ``overrides`` (the flags given on the command line, e.g.
    ``--fps 1``) replace both, for every camera: flags win, as everywhere in ClassPulse. Every
    problem names the file, the camera's position and the key.
    """
    path = Path(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_CamerasLoader)
    except OSError as exc:
        raise UsageError(f"cannot read camera file {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:  # UTF-16, as some Windows editors save it, or Latin-1
        raise UsageError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save "
                         "it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: {_yaml_problem(exc)}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("cameras"), list) or not doc["cameras"]:
        raise UsageError(f"{path}: expected a mapping with a non-empty list under 'cameras:'")
    shared = {k: v for k, v in doc.items() if k != "cameras"}
    _check_keys(path, "top level", shared, allowed=set(_TYPES) - {"id", "source"})
    flags = dict(overrides or {})
    cameras = []
    for i, item in enumerate(doc["cameras"], start=1):
        where = f"camera #{i}"
        if not isinstance(item, dict):
            raise UsageError(f"{path}: {where} must be a mapping, got {type(item).__name__}")
        merged = {**shared, **item, **flags}
        _check_keys(path, where, merged, allowed=set(_TYPES))
        for key in ("id", "classroom", "source"):
            if key not in merged:
                raise UsageError(f"{path}: {where} has no '{key}'")
        try:
            cameras.append(CameraConfig(**{k: _coerce(k, v) for k, v in merged.items()}))
        except (TypeError, ValueError, OverflowError) as exc:
            raise UsageError(f"{path}: {where}: {exc}") from None
        except UsageError as exc:
            raise UsageError(f"{path}: {where}: {exc}") from None
    ids = [c.id for c in cameras]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise UsageError(f"{path}: camera ids must be unique; repeated: {', '.join(duplicates)}")
    _check_one_camera_per_source(path, cameras)
    _check_one_fps_per_classroom(path, cameras)
    return cameras


def _check_one_camera_per_source(path: Path, cameras: list[CameraConfig]) -> None:
    """Two cameras reading one live camera (one RTSP URL under classrooms 101 and 102, or ``0``
    and ``/dev/video0``) count its pupils twice, in a classroom where they are not when the
    classrooms differ: a mistake of the file (a line copied and not edited), refused in one
    line naming both cameras. A recording looped under several cameras is allowed: it counts
    no real pupil, and replaying one clip as many cameras is how a load is rehearsed. So is an
    http(s) URL given ``loop: true``, which says it serves a recording (that it does is known
    only once it is opened)."""
    first: dict[str, CameraConfig] = {}
    for camera in cameras:
        identity = live_source_identity(camera.source)
        if identity is None or (camera.loop and camera.source.lower().startswith(HTTP_PREFIXES)):
            continue
        other = first.setdefault(identity, camera)
        if other is camera:
            continue
        sources = _shown_source(other.source)
        if camera.source != other.source:
            sources += f" and {_shown_source(camera.source)}"
        where = f"classroom {safe_text(camera.classroom)!r}"
        if camera.classroom != other.classroom:
            where = (f"classrooms {safe_text(other.classroom)!r} and "
                     f"{safe_text(camera.classroom)!r}")
        raise UsageError(
            f"{path}: cameras {safe_text(other.id)!r} and {safe_text(camera.id)!r} read the same "
            f"camera ({sources}), which would count each of its pupils twice, in {where}; give "
            "each camera its own source, or remove one of them")


def _shown_source(source: str) -> str:
    return safe_text(hide_password(source))


def _check_one_fps_per_classroom(path: Path, cameras: list[CameraConfig]) -> None:
    """A classroom's shares add its cameras' face sightings (docs/sql.md, "Conventions"), so a
    camera sending twice the frames would weigh twice as much in every class minute: one file's
    cameras of a classroom must send at one ``fps``."""
    rates: dict[str, dict[float, str]] = {}
    for camera in cameras:
        rates.setdefault(camera.classroom, {}).setdefault(camera.fps, camera.id)
    for classroom, by_fps in rates.items():
        if len(by_fps) > 1:
            given = ", ".join(f"{cam} fps={fps:g}" for fps, cam in sorted(by_fps.items()))
            raise UsageError(
                f"{path}: classroom {classroom!r} has cameras at different fps ({given}); its "
                "shares add the cameras' face sightings, so the faster camera would weigh more: "
                "give them one fps (a top-level `fps:` or the same value on each)")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error as one line with its line and column. Its own text spans several lines and
    quotes the offending line of the file, which may hold a camera's password."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}: "
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None and (mark is None or start.line != mark.line):
        problem += f" ({context} that starts on line {start.line + 1})"
    elif context:
        problem += f" ({context})"
    return f"{where}not valid YAML: {problem}; compare with deploy/cameras.example.yaml"


def _check_keys(path: Path, where: str, mapping: dict[Any, Any], allowed: set[str]) -> None:
    """Refuse keys that are not ``allowed``. YAML keys need not be text: ``1: 2``, ``null: x``
    or ``yes: true`` (the boolean True in YAML 1.1) are shown as YAML read them, with the kind."""
    unknown = sorted(_key_shown(k) for k in mapping if not (isinstance(k, str) and k in allowed))
    if unknown:
        raise UsageError(
            f"{path}: {where}: unknown key(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(sorted(allowed))}"
        )


def _key_shown(key: Any) -> str:
    # the message reaches a terminal: a key holding an escape sequence or a newline is shown
    # escaped, not acted on
    if isinstance(key, str):
        return safe_text(key)
    if key is None:
        kind = "null"
    elif isinstance(key, bool):
        kind = "a boolean"
    elif isinstance(key, (int, float)):
        kind = "a number"
    else:
        kind = f"a {type(key).__name__}"
    return f"{key!r} ({kind}, not a name)"


def _coerce(key: str, value: Any) -> Any:
    kind = str(_TYPES[key])
    if kind == "str" and not isinstance(value, str):
        # a mapping or a list, never shown: a source's may hold a camera's password
        what = "a URL, a video file, a folder or a webcam index" if key == "source" else "an id"
        raise ValueError(f"'{key}' must be one value ({what}), not a {_yaml_kind(value)}")
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"'{key}' must be true or false, got {value!r}")
        return value
    if kind in ("int", "float") and isinstance(value, bool):
        raise ValueError(f"'{key}' must be a number, got {value!r}")
    if kind == "int" and isinstance(value, float) and not value.is_integer():
        # int() cut 64.9 to 64 without a word, and raised OverflowError on .inf
        raise ValueError(f"'{key}' must be a whole number, got {value!r}")
    try:
        return _CONVERT[kind](value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"'{key}' must be a {kind}, got {value!r}") from None


def _yaml_kind(value: Any) -> str:
    return {dict: "mapping", list: "list"}.get(type(value), type(value).__name__)
