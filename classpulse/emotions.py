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
    """Return the weights in EMOTIONS order; refuse a mapping that misses or invents an emotion."""
    unknown = sorted(set(weights) - set(EMOTIONS))
    missing = [e for e in EMOTIONS if e not in weights]
    if unknown or missing:
        raise ValueError(
            f"engagement weights must name exactly the seven emotions {list(EMOTIONS)}; "
            f"unknown: {unknown}, missing: {missing}"
        )
    return tuple(float(weights[e]) for e in EMOTIONS)
