"""FER2013 readers: the image-folder release (``<split>/<emotion>/*.jpg``), the original CSV, and
the one-file pack ``classpulse model pack`` writes (``model.pack``, which imports this module).

Each returns a ``FerSplit``: the faces as one uint8 array, labels in ``EMOTIONS`` order, and where
each face came from (a file, or a CSV line), so that a bad record can be named. A corrupt image,
a file in a label folder that is not an image (FER2013's folders hold nothing else) or an unknown
label stops the read with the offending file or line; a silently skipped face would change the
class balance without anyone noticing. Dotfiles (``.DS_Store``) are the one thing passed over.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
from model.options import DEFAULT_SPLIT
from model.preprocess import DEFAULT_SIZE, to_gray_square

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# split name -> folder names and CSV ``Usage`` values that mean it
SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("train", "Training"),
    "val": ("val", "PublicTest"),
    "test": ("test", "PrivateTest"),
}
CSV_NAMES = ("fer2013.csv", "icml_face_data.csv")
PACK_COLUMNS = 64  # faces per mosaic row of a `classpulse model pack` file (model.pack)


@dataclass(frozen=True)
class FerSplit:
    """One split of FER2013: ``images`` uint8 (N, S, S), ``labels`` int64 (N,), ``sources`` (N)."""

    images: np.ndarray
    labels: np.ndarray
    sources: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(EMOTIONS))

    def subset(self, index: np.ndarray) -> FerSplit:
        return FerSplit(self.images[index], self.labels[index],
                        tuple(self.sources[i] for i in index))


@dataclass(frozen=True)
class SplitSource:
    """Where ``load_split`` reads a split from: a pack, a CSV or an image folder; ``split`` is None
    when the source is the same whatever split is asked (one split folder, a CSV without a Usage
    column)."""

    kind: str  # pack | csv | folder
    path: Path
    split: str | None


def is_pack_name(path: Path) -> bool:
    """Whether ``path`` is named as a ``classpulse model pack`` file: ``.npz``, in any case (what
    ``model pack`` requires of its ``--out``, so that every pack it writes is read as one)."""
    return Path(path).suffix.lower() == ".npz"


def locate_split(data: Path, split: str, named: bool = False) -> SplitSource:
    """Where ``split`` (train, val or test) of ``data`` is, without reading the faces.

    ``data`` may be: a ``classpulse model pack`` file (.npz); a FER2013 CSV file; a folder
    holding one (``fer2013.csv``); a dataset root with ``<split>/<emotion>/`` folders; or one
    split folder with ``<emotion>/`` folders directly. ``named``: refuse a source that is the
    same whatever split is asked (``load_split`` says why).
    """
    source = _locate(Path(data), split)
    if named and source.split is None:
        raise _unnamed(data, source)
    return source


def _locate(data: Path, split: str) -> SplitSource:
    if split not in SPLITS:
        raise UsageError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    if data.is_file() and is_pack_name(data):
        return SplitSource("pack", data, split)
    if data.is_file():
        return _csv_source(data, split)
    if not data.is_dir():
        raise UsageError(f"data {data} does not exist; give a FER2013 folder or CSV file")
    if _emotion_dirs(data):
        return SplitSource("folder", data, None)
    for name in SPLITS[split]:
        if (data / name).is_dir():
            return SplitSource("folder", data / name, split)
    for name in CSV_NAMES:
        if (data / name).is_file():
            return _csv_source(data / name, split)
    raise UsageError(
        f"no FER2013 {split} split in {data}: expected {data}/{SPLITS[split][0]}/<emotion>/*.jpg "
        f"or {data}/fer2013.csv"
    )


def load_split(data: Path, split: str, size: int = DEFAULT_SIZE, named: bool = False
               ) -> FerSplit:
    """Read ``split`` (train, val or test) from ``data`` (``locate_split`` lists the layouts).

    ``named``: refuse a source that is the same whatever split is asked. Training selects on val
    and calibration must see train faces only; given one split folder or a CSV without Usage,
    "train" and "val" would quietly be the same faces.
    """
    source = locate_split(data, split, named=named)
    if source.kind == "pack":
        return read_packed(source.path, split, size)
    if source.kind == "csv":
        return read_csv(source.path, split, size)
    return read_image_folder(source.path, size)


def sample_split(data: Path, split: str, n: int, size: int = DEFAULT_SIZE, named: bool = False,
                 seed: int = 0) -> FerSplit:
    """``n`` faces of ``split`` drawn at random (``seed``), in the order ``load_split`` reads them:
    the very faces ``load_split(...).subset(sorted(permutation[:n]))`` gives.

    Why: int8 calibration needs 512 training faces; from an image folder only those files are
    decoded, not all 28,709 (a pack or CSV is read whole: one mosaic, one text file).
    """
    source = locate_split(data, split, named=named)
    if source.kind != "folder":
        faces = load_split(data, split, size, named=named)
        return faces.subset(_pick(len(faces), n, seed))
    files, labels = _folder_listing(source.path)
    pick = _pick(len(files), n, seed)
    return _read_files([files[i] for i in pick], [labels[i] for i in pick], size, source.path)


def _unnamed(data: Path, source: SplitSource) -> UsageError:
    return UsageError(
        f"{data} holds one unnamed split ({source.path}), so its train and val would be the "
        f"same faces; give a FER2013 root with train/<emotion>/ and val/<emotion>/ folders, "
        f"the CSV with its Usage column, or a 'classpulse model pack' .npz"
    )


def _pick(total: int, n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).permutation(total)[:n])


def split_label(data: Path, asked: str | None) -> tuple[str, str]:
    """(the split to read from ``data``, the name a report gives the faces read).

    Why: one split folder (``fer2013/train``) holds the same faces whatever ``--split`` says, so
    a report saying "val" of training faces would be believed. A folder named after a split
    (``SPLITS``) is that split, and an ``asked`` split contradicting the name is refused; any other
    one-split source is named by its path; a root, CSV with Usage or pack reads ``asked`` (default
    ``DEFAULT_SPLIT``).
    """
    source = locate_split(data, asked or DEFAULT_SPLIT)
    if source.split is not None:
        return source.split, source.split
    named = next((s for s, names in SPLITS.items() if source.path.name in names), None)
    if named is None:
        return asked or DEFAULT_SPLIT, str(source.path)
    if asked is not None and asked != named:
        raise UsageError(f"--split {asked} contradicts --data {data}, which holds one split, "
                         f"{named} by its name; drop --split, or give the FER2013 root")
    return named, named


def _csv_source(path: Path, split: str) -> SplitSource:
    with _csv_reader(path) as reader:
        header = _csv_header(path, reader)
    if "usage" in header:
        return SplitSource("csv", path, split)
    return SplitSource("csv", path, None)


def read_packed(path: Path, split: str, size: int = DEFAULT_SIZE) -> FerSplit:
    """A split of a ``classpulse model pack`` file (``model.pack``)."""
    images, labels = read_pack(path, split)
    if images.shape[1] != size:
        images = np.stack([to_gray_square(f, size) for f in images])
    return FerSplit(images, labels, tuple(f"{path}:{split}[{i}]" for i in range(len(labels))))


def read_pack(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, S, S), labels int64 (N,)) of ``split`` from a ``pack_fer`` file."""
    try:
        pack = np.load(path)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise _unreadable_pack(path, str(exc)) from None
    if not isinstance(pack, np.lib.npyio.NpzFile):  # one np.save'd array, not a zip of them
        raise _unreadable_pack(path, "it holds one array saved by np.save, not the pack's "
                               "archive of arrays")
    with pack:
        if f"{split}_jpeg" not in pack:
            raise UsageError(f"{path} holds no {split} split ('classpulse model pack' packs train "
                             "and val); read that split from the FER2013 folder or CSV instead")
        labels = pack[f"{split}_labels"].astype(np.int64)
        side = int(pack[f"{split}_side"])
        image = cv2.imdecode(pack[f"{split}_jpeg"], cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise UsageError(f"{path}: the {split} mosaic is not a readable JPEG; pack it again")
    return unmosaic(image, len(labels), side), labels


def _unreadable_pack(path: Path, reason: str) -> UsageError:
    return UsageError(f"{path} is not a readable .npz ({reason}); give a file written by "
                      "'classpulse model pack', a FER2013 folder or the CSV")


def unmosaic(image: np.ndarray, n: int, side: int, columns: int = PACK_COLUMNS) -> np.ndarray:
    """The inverse of ``model.pack.mosaic``: the first ``n`` faces."""
    rows = image.shape[0] // side
    faces = image.reshape(rows, side, columns, side).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(faces.reshape(rows * columns, side, side)[:n])


def _emotion_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name in EMOTIONS)


def read_image_folder(folder: Path, size: int = DEFAULT_SIZE) -> FerSplit:
    """Read ``folder/<emotion>/*.jpg``; any other sub-folder is an unknown label and an error."""
    files, labels = _folder_listing(Path(folder))
    return _read_files(files, labels, size, Path(folder))


def _folder_listing(folder: Path) -> tuple[list[Path], list[int]]:
    """The image files of ``folder/<emotion>/`` and their labels, emotion by emotion, by name."""
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in subdirs if p.name not in EMOTIONS]
    if unknown:
        raise UsageError(
            f"unknown emotion folder {folder / unknown[0]}: label folders must be named "
            f"{', '.join(EMOTIONS)}"
        )
    files: list[Path] = []
    labels: list[int] = []
    for label, emotion in enumerate(EMOTIONS):
        found = sorted(p for p in (folder / emotion).glob("*")
                       if not p.name.startswith(".")) if (folder / emotion).is_dir() else []
        for path in found:
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                raise UsageError(f"{path} is not an image file ({', '.join(IMAGE_SUFFIXES)}): a "
                                 "label folder holds only its faces; move it out of "
                                 f"{folder / emotion}")
        files += found
        labels += [label] * len(found)
    if not files:
        raise UsageError(f"no images in {folder}: expected {folder}/<emotion>/*.jpg")
    return files, labels


def _read_files(files: list[Path], labels: list[int], size: int, folder: Path) -> FerSplit:
    with ThreadPoolExecutor(max_workers=2) as pool:
        images = list(pool.map(lambda p: _read_image(p, size), files))
    log.info("read image folder=%s images=%d", folder, len(files))
    return FerSplit(np.stack(images), np.asarray(labels, dtype=np.int64),
                    tuple(str(p) for p in files))


def _read_image(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            gray = np.asarray(img.convert("L"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as exc:  # a header claiming gigapixels
        reason = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        raise UsageError(f"corrupt or unreadable image {path}: {reason}; replace it with an "
                         "intact copy of the face, or move it out of the data folder") from None
    return to_gray_square(gray, size)


def read_csv(path: Path, split: str, size: int = DEFAULT_SIZE) -> FerSplit:
    """Read the rows of the original ``emotion,pixels,Usage`` CSV whose Usage means ``split``.

    A file without a Usage column is taken as one split. Labels must be 0..6 and ``pixels`` a
    square number of 0..255 values; otherwise the read stops naming the line.
    """
    images: list[np.ndarray] = []
    labels: list[int] = []
    sources: list[str] = []
    for line, label, pixels in _csv_rows(Path(path), split):
        images.append(to_gray_square(pixels, size))
        labels.append(label)
        sources.append(f"{path}:{line}")
    if not images:
        raise UsageError(f"no {split} rows (Usage {SPLITS[split][1]}) in {path}")
    log.info("read csv=%s split=%s images=%d", path, split, len(images))
    return FerSplit(np.stack(images), np.asarray(labels, dtype=np.int64), tuple(sources))


@contextlib.contextmanager
def _csv_reader(path: Path) -> Iterator[Iterator[list[str]]]:
    """The CSV's rows; a file that is not CSV text (a zip, a pickle, NUL bytes) stops with its
    name and what was expected instead of a decoding traceback."""
    try:
        with path.open(newline="") as fh:
            yield csv.reader(fh)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path} is not a FER2013 CSV text file ({exc}); give the CSV "
                         "(emotion,pixels[,Usage]), a FER2013 folder or a 'classpulse model "
                         "pack' .npz") from None


def _csv_header(path: Path, reader: Iterator[list[str]]) -> list[str]:
    header = [h.strip().lower() for h in next(reader, [])]
    if "emotion" not in header or "pixels" not in header:
        raise UsageError(f"{path}:1: header must name 'emotion' and 'pixels', got "
                         f"{str(header)[:80]}")
    return header


def _csv_rows(path: Path, split: str) -> Iterator[tuple[int, int, np.ndarray]]:
    usage_wanted = SPLITS[split][1]
    with _csv_reader(path) as reader:
        header = _csv_header(path, reader)
        i_emotion, i_pixels = header.index("emotion"), header.index("pixels")
        i_usage = header.index("usage") if "usage" in header else None
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise UsageError(f"{path}:{line}: expected {len(header)} fields, got {len(row)}")
            if i_usage is not None and row[i_usage].strip() != usage_wanted:
                continue
            yield line, _parse_label(row[i_emotion], path, line), _parse_pixels(
                row[i_pixels], path, line)


def _parse_label(text: str, path: Path, line: int) -> int:
    text = text.strip()
    if not text.isdigit() or int(text) >= len(EMOTIONS):
        raise UsageError(f"{path}:{line}: unknown emotion label {text!r}; expected 0..6 "
                         f"({', '.join(EMOTIONS)})")
    return int(text)


def _parse_pixels(text: str, path: Path, line: int) -> np.ndarray:
    try:
        values = np.array(text.split(), dtype=np.int64)
    except ValueError as exc:
        raise UsageError(f"{path}:{line}: pixels are not integers ({exc})") from exc
    side = round(len(values) ** 0.5)
    if side == 0 or side * side != len(values) or values.min() < 0 or values.max() > 255:
        raise UsageError(f"{path}:{line}: pixels must be a square number of values in 0..255, "
                         f"got {len(values)} values")
    return values.astype(np.uint8).reshape(side, side)
