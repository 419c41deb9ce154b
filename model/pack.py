"""FER2013 packed into one small file for a GPU machine: ``classpulse model pack``.

Why: what travels to the GPU machine is capped at 64 MiB in all, and the tracked tree alone is
34 MB; FER2013's 32,298 JPEG files are 60 MB (half of it per-file headers), raw pixels 74 MB and
the best lossless compression tried (lzma) 52 MB. So each split's faces are tiled into one gray
mosaic (64 faces a row; 48 px is six 8-px JPEG blocks, so no block straddles two faces) and
stored as one JPEG: val at quality 95 (near-lossless: mean error 0.1 gray level, what selection
and evaluation read; 5.0 MB), train at quality 80 (24.0 MB, mean error 4.3 gray levels out of
255: a quarter of the brightness jitter the augmentation adds anyway; quality 85 would be 26.9
MB and leave under 1 MB of the 64 MiB). Labels are stored exactly.

``load_split`` reads such a file like a FER2013 folder.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import cv2
import numpy as np

from classpulse.errors import UsageError

COLUMNS = 64  # faces per mosaic row
QUALITY = {"train": 80, "val": 95}


def mosaic(images: np.ndarray, columns: int = COLUMNS) -> np.ndarray:
    """(N, S, S) uint8 -> one (rows * S, columns * S) image, row-major, zero-padded."""
    n, side = len(images), images.shape[1]
    rows = -(-n // columns)
    padded = np.zeros((rows * columns, side, side), np.uint8)
    padded[:n] = images
    return padded.reshape(rows, columns, side, side).transpose(0, 2, 1, 3).reshape(
        rows * side, columns * side)


def unmosaic(image: np.ndarray, n: int, side: int, columns: int = COLUMNS) -> np.ndarray:
    """The inverse of ``mosaic``: the first ``n`` faces."""
    rows = image.shape[0] // side
    faces = image.reshape(rows, side, columns, side).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(faces.reshape(rows * columns, side, side)[:n])


def pack_fer(data: Path, out: Path, splits: tuple[str, ...] = ("train", "val"),
             quality: dict[str, int] | None = None) -> dict[str, int]:
    """Write ``out`` (.npz): per split the mosaic JPEG's bytes, the labels and the face side.

    Returns the number of faces per split. A wrong ``out`` stops it before any face is read.
    """
    from model.data import load_split
    from model.paths import check_output_file

    check_output_file(out, "--out", ".npz")

    quality = {**QUALITY, **(quality or {})}
    arrays: dict[str, np.ndarray] = {}
    counts = {}
    for split in splits:
        faces = load_split(Path(data), split, named=True)
        ok, jpeg = cv2.imencode(".jpg", mosaic(faces.images),
                                [cv2.IMWRITE_JPEG_QUALITY, quality[split],
                                 cv2.IMWRITE_JPEG_OPTIMIZE, 1])
        if not ok:
            raise UsageError(f"could not JPEG-encode the {split} mosaic")
        arrays[f"{split}_jpeg"] = jpeg.reshape(-1)
        arrays[f"{split}_labels"] = faces.labels.astype(np.int8)
        arrays[f"{split}_side"] = np.array(faces.images.shape[1])
        counts[split] = len(faces)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # JPEG bytes do not compress further
    out.write_bytes(buf.getvalue())
    return counts


def read_pack(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, S, S), labels int64 (N,)) of ``split`` from a ``pack_fer`` file."""
    try:
        pack = np.load(path)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UsageError(f"{path} is not a readable .npz ({exc}); give a file written by "
                         "'classpulse model pack', a FER2013 folder or the CSV") from None
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
