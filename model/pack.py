"""FER2013 packed into one small file for a GPU machine: ``classpulse model pack``.

Why: what travels to the GPU machine is capped at 64 MiB in all, and the tracked tree alone takes
over half of it (about 34 MiB on 2026-12-06; ``python3 scripts/gpu_carry_check.py
.gpu-data/fer2013.npz`` prints today's sums); FER2013's 32,298 JPEG files are 60 MB (half of it
per-file headers), raw pixels 74 MB and the best lossless compression tried (lzma) 52 MB. So
each split's faces are tiled into one gray mosaic (64 faces a row; 48 px is six 8-px JPEG
blocks, so no block straddles two faces) and stored as one JPEG: val at quality 95
(near-lossless: mean error 0.1 gray level, what selection and evaluation read; 5.0 MB), train at
quality 80 (24.0 MB, mean error 4.3 gray levels out of 255: a quarter of the brightness jitter
the augmentation adds anyway; quality 85 would be 26.9 MB, 2.9 MB more, where beside the tree
of 2026-12-06 the pack leaves about 1 MiB to spare). Labels are stored exactly.

``model.data.load_split`` reads such a file like a FER2013 folder (``model.data.read_pack``):
the reader knows nothing of this module, which writes what it reads.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from classpulse.errors import UsageError
from model.data import PACK_COLUMNS, is_pack_name, load_split, locate_split
from model.paths import check_output_file

QUALITY = {"train": 80, "val": 95}


def mosaic(images: np.ndarray, columns: int = PACK_COLUMNS) -> np.ndarray:
    """(N, S, S) uint8 -> one (rows * S, columns * S) image, row-major, zero-padded."""
    n, side = len(images), images.shape[1]
    rows = -(-n // columns)
    padded = np.zeros((rows * columns, side, side), np.uint8)
    padded[:n] = images
    return padded.reshape(rows, columns, side, side).transpose(0, 2, 1, 3).reshape(
        rows * side, columns * side)


def pack_fer(data: Path, out: Path, splits: tuple[str, ...] = ("train", "val"),
             quality: dict[str, int] | None = None) -> dict[str, int]:
    """Write ``out`` (.npz): per split the mosaic JPEG's bytes, the labels and the face side.

    Returns the number of faces per split. A wrong ``out``, or a split ``data`` does not hold,
    stops it before any face is read (decoding train alone takes a minute of a small machine).
    """
    check_output_file(out, "--out", ".npz")
    if not is_pack_name(out):  # the readers take only a .npz for a pack (model.data)
        raise UsageError(f"--out {out} does not end in .npz, so 'model train' and 'model "
                         f"evaluate' would not read it as a pack; give a name such as "
                         f"{Path(out).with_suffix('.npz')}")
    for split in splits:
        locate_split(Path(data), split, named=True)

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
