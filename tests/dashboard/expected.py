"""What the page should show, computed in plain Python from the rows a test wrote.

Independent of ``dashboard.sql`` and ``dashboard.transform``: per UTC minute, the classroom's (or
one camera's) rows are summed; a camera's faces in view is faces / frames with faces; a minute is
shown when at least one camera read ``min_faces`` faces per frame or more, and then sums only the
cameras that did.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Engine, bindparam, text

from classpulse.db.base import UTCDateTime
from classpulse.db.writes import MinuteRow, add_minute_rows
from classpulse.emotions import EMOTIONS


def write(engine: Engine, rows: Sequence[MinuteRow],
          classrooms: dict[str, tuple[str, str]] | None = None) -> None:
    """Write rows as a consumer would; ``classrooms`` maps id -> (name, time zone) to set."""
    with engine.begin() as conn:
        add_minute_rows(conn, list(rows))
        rename = text("UPDATE classrooms SET name = :name, timezone = :zone WHERE id = :id")
        for room, (name, zone) in (classrooms or {}).items():
            conn.execute(rename, {"name": name, "zone": zone, "id": room})


def set_written_at(engine: Engine, when: datetime, camera: str | None = None) -> None:
    """Pretend every row (of ``camera`` alone, when given) was last written at ``when`` (a
    consumer, or that camera, that stopped)."""
    only = "" if camera is None else " WHERE camera_id = :camera"
    stmt = text(f"UPDATE emotion_minutes SET updated_at = :when{only}").bindparams(
        bindparam("when", type_=UTCDateTime())
    )
    with engine.begin() as conn:
        conn.execute(stmt, {"when": when} if camera is None else {"when": when, "camera": camera})


def minutes(rows: Iterable[MinuteRow], classroom: str, min_faces: int,
            camera: str | None = None) -> dict[datetime, dict]:
    """Per UTC minute: shown, faces_in_view, faces_read_in_view, faces, faces_read, engagement,
    share_<emotion> (the last two over read faces). A shown minute sums its shown cameras' rows
    only, a hidden one all of them."""
    by_minute: dict[datetime, list[MinuteRow]] = defaultdict(list)
    for r in rows:
        if r.classroom_id == classroom and (camera is None or r.camera_id == camera):
            by_minute[r.minute_start].append(r)
    out = {}
    for minute, group in sorted(by_minute.items()):
        shown_rows = [r for r in group if _read_in_view(r) >= min_faces]
        m: dict[str, float] = defaultdict(float)
        for r in shown_rows or group:
            m["faces_in_view"] += r.faces / r.frames_with_faces if r.frames_with_faces else 0.0
            m["faces_read_in_view"] += _read_in_view(r)
            m["faces"] += r.faces
            m["faces_read"] += r.faces_read
            m["engagement_sum"] += r.engagement_sum
            for e, n in zip(EMOTIONS, r.n, strict=True):
                m[f"n_{e}"] += n
        row = {"shown": bool(shown_rows), "faces_in_view": m["faces_in_view"],
               "faces_read_in_view": m["faces_read_in_view"], "faces": int(m["faces"]),
               "faces_read": int(m["faces_read"])}
        if m["faces_read"]:
            row["engagement"] = m["engagement_sum"] / m["faces_read"]
            row.update({f"share_{e}": m[f"n_{e}"] / m["faces_read"] for e in EMOTIONS})
        out[minute] = row
    return out


def _read_in_view(r: MinuteRow) -> float:
    return r.faces_read / r.frames_with_read_faces if r.frames_with_read_faces else 0.0


def row(camera: str, classroom: str, minute: datetime, frames_with_faces: int,
        per_frame: int, top: str = "neutral", confidence: float = 0.8,
        unread: tuple[int, int, int] = (0, 0, 0)) -> MinuteRow:
    """A hand-made camera minute: ``per_frame`` faces read in each of ``frames_with_faces``
    frames, and in each ``unread`` more refused by the gate (too small, turned, uncertain).

    Every read face's top emotion is ``top`` with probability ``confidence``; the rest is spread
    evenly.
    """
    faces = frames_with_faces * per_frame
    top_index = EMOTIONS.index(top)
    n = tuple(faces if i == top_index else 0 for i in range(7))
    rest = (1.0 - confidence) / 6
    p = tuple(faces * (confidence if i == top_index else rest) for i in range(7))
    weights = {"angry": 0.25, "disgust": 0.2, "fear": 0.3, "happy": 0.6, "sad": 0.3,
               "surprise": 0.6, "neutral": 0.9}
    refused = tuple(frames_with_faces * k for k in unread)
    return MinuteRow(camera_id=camera, classroom_id=classroom, minute_start=minute, frames=60,
                     frames_with_faces=frames_with_faces if faces or sum(refused) else 0,
                     faces=faces + sum(refused), n=n, p=p,
                     engagement_sum=faces * confidence * weights[top], faces_read=faces,
                     frames_with_read_faces=frames_with_faces if faces else 0,
                     refused=(refused[0], refused[1], refused[2]))


def lesson(rows: Iterable[MinuteRow], classroom: str, start: datetime, end: datetime,
           min_faces: int = 3) -> dict:
    """A lesson's numbers from its class minutes in ``[start, end)``, as its row must show them:
    charted minutes (shown, at least half their faces read), unread (shown, less than half read)
    and hidden ones, and over the charted ones engagement, mean faces in view, main emotion.
    """
    during = {m: w for m, w in minutes(rows, classroom, min_faces).items() if start <= m < end}
    shown = {m: w for m, w in during.items() if w["shown"] and 2 * w["faces_read"] >= w["faces"]}
    unread = sum(1 for w in during.values() if w["shown"]) - len(shown)
    out: dict = {"minutes": len(shown), "unread": unread,
                 "hidden": len(during) - len(shown) - unread, "shown": shown}
    if shown:
        faces = sum(w["faces_read"] for w in shown.values())
        out["engagement"] = sum(w["engagement"] * w["faces_read"] for w in shown.values()) / faces
        out["faces_in_view"] = sum(w["faces_in_view"] for w in shown.values()) / len(shown)
        shares = {e: sum(w[f"share_{e}"] * w["faces_read"] for w in shown.values()) / faces
                  for e in EMOTIONS}
        out["main"] = max(shares, key=shares.__getitem__)
        out["main_share"] = shares[out["main"]]
    return out
