"""Output paths checked before the work that ends in writing them.

Why: training, evaluation, export and packing take seconds to hours; a ``--out`` naming a folder
where a file belongs (or a file where a folder belongs), or a folder nobody may write in, used to
surface only at the final write, as a traceback after all that work. Nothing is created here.
"""

from __future__ import annotations

import os
from pathlib import Path

from classpulse.errors import UsageError


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (what a ``mkdir -p`` would start from)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _writable_folder(folder: Path, option: str, path: Path) -> None:
    """Refuse ``path`` unless ``folder`` (its would-be parent) could hold it."""
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise UsageError(f"{option} {path}: {base} is a file, not a folder; give a path inside a "
                         "folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: no permission to write in {base}; give a path in a "
                         "folder you can write to")


def check_output_file(path: str | Path, option: str, suffix: str = "") -> Path:
    """``path`` as a file the command can write (its folders are created later), or a one-line
    UsageError naming ``option`` and the path; ``suffix`` completes the example name offered in
    place of a folder."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name, such as "
                         f"{path / ('out' + suffix)}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {path}: no permission to overwrite it; give another file")
    _writable_folder(path.parent, option, path)
    return path


def check_output_dir(path: str | Path, option: str) -> Path:
    """``path`` as a folder the command can create or write in, or a one-line UsageError."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder; give a folder (it is created "
                         "if missing)")
    _writable_folder(path, option, path)
    return path
