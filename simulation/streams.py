"""Random streams: one SeedSequence per run, one generator per named stream.

Replication ``r`` of a run with root seed ``seed`` uses ``SeedSequence(seed, spawn_key=(r,))``
(equal to ``SeedSequence(seed).spawn(n)[r]`` without its O(r) cost). Inside a replication every
process family draws from its own *named* stream, keyed by a stable hash of the name, so adding a
stream never shifts another and strategies compared on the same seed share their random numbers.
"""

from __future__ import annotations

import zlib

import numpy as np


def replication_seed(seed: int, replication: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(replication,))


def stream_key(name: str) -> int:
    """Stable 32-bit key of a stream name (the same in every Python process and version)."""
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """Named, independent generators for one replication."""

    def __init__(self, seed: int, replication: int) -> None:
        self._root = replication_seed(seed, replication)
        self._cache: dict[str, np.random.Generator] = {}
        self._keys: dict[int, str] = {}

    def __call__(self, name: str) -> np.random.Generator:
        gen = self._cache.get(name)
        if gen is None:
            key = stream_key(name)
            other = self._keys.setdefault(key, name)
            if other != name:  # pragma: no cover - a crc32 clash between two stream names
                raise RuntimeError(f"stream names '{name}' and '{other}' share a key")
            ss = np.random.SeedSequence(self._root.entropy, spawn_key=(*self._root.spawn_key, key))
            gen = np.random.Generator(np.random.PCG64(ss))
            self._cache[name] = gen
        return gen
