"""Random streams: one SeedSequence per run, one generator per named stream.

Replication ``r`` of a run with root seed ``seed`` uses ``SeedSequence(seed, spawn_key=(r,))``
(equal to ``SeedSequence(seed).spawn(n)[r]`` without its O(r) cost). Inside a replication every
process family draws from its own *named* stream, keyed by a stable hash of the name, so adding a
stream never shifts another and strategies compared on the same seed share their random numbers.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray


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


class DrawBuffer:
    """Scalar draws served from blocks of vectorised draws (one numpy call per block).

    ``transform`` maps uniforms to values (a distribution's ppf); omitted, draws are uniforms.
    Values come in stream order, so a replay draws exactly the same sequence.
    """

    __slots__ = ("_block", "_i", "_rng", "_transform", "_values")

    def __init__(
        self,
        rng: np.random.Generator,
        transform: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
        block: int = 64,
    ) -> None:
        self._rng = rng
        self._transform = transform
        self._block = block
        self._values: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._values):
            u = self._rng.random(self._block)
            self._values = (self._transform(u) if self._transform else u).tolist()
            self._i = 0
        value = self._values[self._i]
        self._i += 1
        return value
