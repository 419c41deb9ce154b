"""The whole pipeline benchmarked: the real producer code publishing into a broker and the real
consumer analysing and committing, in one process (``classpulse bench pipeline`` and ``bench
soak``).

The one package that combines producers and consumers, which DEVELOPERS.md ("Layout") keeps
from importing each other: it may import both, and ``classpulse`` and ``model``'s public API; no
part imports it.
"""
