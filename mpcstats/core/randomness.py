"""Cryptographically secure random streams.

A :class:`Stream` expands a 32-byte key with AES-256 in counter mode. Parties that share a key
(for pseudo-random secret sharing) draw identical streams; a party's private randomness is a
stream under a key from ``os.urandom``. numpy's generators are never used for secrets: they are
not cryptographically secure.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["Stream", "derive_key", "element_count", "little_endian_ints"]

_ZERO_BLOCK = bytes(1 << 16)


def derive_key(key: bytes, label: bytes) -> bytes:
    """A sub-key of ``key`` for one purpose, so separate streams never overlap."""
    return hashlib.blake2b(label, key=key, digest_size=32).digest()


class Stream:
    """An unbounded stream of random bytes under an AES-256-CTR key."""

    __slots__ = ("_encryptor",)

    def __init__(self, key: bytes | None = None) -> None:
        key = os.urandom(32) if key is None else key
        if len(key) != 32:
            raise ValueError("a stream key has 32 bytes")
        cipher = Cipher(algorithms.AES(key), modes.CTR(bytes(16)))
        self._encryptor = cipher.encryptor()

    def __repr__(self) -> str:
        return "Stream(<key hidden>)"

    def bytes(self, count: int) -> bytes:
        """The next ``count`` bytes of the stream."""
        chunks = []
        while count > 0:
            take = min(count, len(_ZERO_BLOCK))
            chunks.append(self._encryptor.update(_ZERO_BLOCK[:take]))
            count -= take
        return b"".join(chunks)

    def uint8(self, count: int) -> np.ndarray:
        """``count`` uniform bytes as a uint8 array."""
        return np.frombuffer(self.bytes(count), dtype=np.uint8).copy()

    def integers(self, bits: int, count: int) -> np.ndarray:
        """``count`` uniform integers in [0, 2**bits) as an object array of Python ints."""
        width = max((bits + 7) // 8, 1)
        values = little_endian_ints(self.bytes(width * count), width)
        spare = 8 * width - bits
        return values >> spare if spare else values


def element_count(shape: int | Sequence[int]) -> int:
    """How many elements an array of ``shape`` holds (math.prod: np.prod costs microseconds a
    call, and the wire and the random draws ask for every message)."""
    return int(shape) if isinstance(shape, int | np.integer) else math.prod(shape)


def little_endian_ints(data: bytes, width: int) -> np.ndarray:
    """The consecutive ``width``-byte little-endian unsigned integers in ``data``, as an object
    array of Python ints (random draws and field elements off the wire)."""
    count = len(data) // width
    words = (width + 7) // 8
    if words > _LIMB_WORDS or count < _LIMB_MIN_COUNT:  # one int.from_bytes per element
        view = memoryview(data)
        out = np.empty(count, dtype=object)
        out[:] = [
            int.from_bytes(view[i : i + width], "little") for i in range(0, count * width, width)
        ]
        return out
    # narrow and many: whole 64-bit limbs, combined with numpy loops, not a loop per element
    padded = np.zeros((count, words * 8), dtype=np.uint8)
    padded[:, :width] = np.frombuffer(data, dtype=np.uint8, count=count * width).reshape(
        count, width
    )
    limbs = padded.view("<u8")
    out = limbs[:, 0].astype(object)
    for w in range(1, words):
        out = out | (limbs[:, w].astype(object) << (64 * w))
    return out


# measured crossovers: limbs win up to 256 bits and from about 32 elements (numpy's fixed cost)
_LIMB_WORDS = 4
_LIMB_MIN_COUNT = 32
