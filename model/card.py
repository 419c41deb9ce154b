"""The shipped model's card: where the weights live and what they scored, read without torch.

The dashboard quotes the accuracy measured on the weights the consumers run, as recorded in the
file at export (the training loop's val pass on the exported epoch, in the run's precision, bf16
autocast or fp32, one view per face), so the page can never claim a number the model does not
have; the consumers' int8 with flip TTA scores a point or two higher (model/weights/
val_metrics.json: 0.671 against the recorded 0.655 for the shipped file), so the quote errs low.
A safetensors file starts with an 8-byte little-endian header length and a JSON header whose
``__metadata__`` holds our string metadata; reading that directly keeps torch (seconds to import,
hundreds of MB) out of the dashboard process.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "emotion_vgg16.safetensors"
_MAX_HEADER = 16 * 1024 * 1024  # far above our ~10 kB header; guards against a wrong file


def read_metadata(path: str | Path | None = None) -> dict[str, str]:
    """The weights file's string metadata; ``{}`` when the file is missing or not safetensors."""
    path = Path(path) if path else DEFAULT_WEIGHTS
    try:
        with path.open("rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                return {}
            (size,) = struct.unpack("<Q", raw)
            if size > _MAX_HEADER:
                return {}
            header = json.loads(fh.read(size))
    except (OSError, ValueError):
        return {}
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}


def val_accuracy(path: str | Path | None = None) -> float | None:
    """Accuracy on the whole val split recorded in the weights at export, or None when not
    recorded, or recorded on only part of it.

    Why the second: the dashboard states this number as the accuracy on FER2013's validation
    photos, and a ``train --limit-val N`` run records its val metrics on N faces drawn at random
    (``limit_val`` in the recipe, ``--limit-val N`` in the metrics' ``split`` label,
    ``model.export``): 2 of 7 faces is no accuracy to tell anyone. Saying nothing is then better
    than saying something false.
    """
    meta = read_metadata(path)
    try:
        metrics = json.loads(meta.get("val_metrics", "{}"))
        recipe = json.loads(meta.get("recipe", "{}"))
        value = metrics.get("accuracy")
        partial = bool(recipe.get("limit_val")) or "--limit-val" in str(metrics.get("split", ""))
    except (ValueError, AttributeError):
        return None
    if partial:
        return None
    return float(value) if isinstance(value, (int, float)) and 0 <= value <= 1 else None
