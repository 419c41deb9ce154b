"""The seven FER2013 emotions and the engagement weights, shared by every part.

The order is FER2013's label order and is the order of the network's output, the table columns and
the chart legends, so that index ``i`` means the same emotion everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Emotion part of the concentration index of Sharma et al. (2019): a face's engagement is its top
# emotion's probability times the weight of that emotion.
DEFAULT_ENGAGEMENT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "angry": 0.25,
        "disgust": 0.2,
        "fear": 0.3,
        "happy": 0.6,
        "sad": 0.3,
        "surprise": 0.6,
        "neutral": 0.9,
    }
)


def weights_vector(weights: Mapping[str, float]) -> tuple[float, ...]:
    """Return the weights in EMOTIONS order; refuse a mapping that misses or invents an emotion.

    The one check of a weights mapping: ``classpulse.settings.Settings`` raises its message as a
    SettingsError, and the database's stored weights pass here too.
    """
    unknown = sorted(set(weights) - set(EMOTIONS))
    missing = [e for e in EMOTIONS if e not in weights]
    if unknown or missing:
        wrong = "; ".join(f"{what} {names}" for what, names in
                          (("unknown:", unknown), ("missing:", missing)) if names)
        raise ValueError(
            f"engagement weights must name exactly the seven emotions {list(EMOTIONS)}; {wrong}"
        )
    return tuple(float(weights[e]) for e in EMOTIONS)
