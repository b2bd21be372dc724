"""GF(2^8), the field of the bit circuits.

Comparisons and exact truncations work on the bits of masked values. Sharing those bits with
Shamir over GF(2^8) makes XOR free (it is field addition) and costs one table look-up per AND;
bits live in the subfield {0, 1}, so a product of bits is their AND. Elements are uint8 arrays;
multiplication uses a flat 64 KiB product table (reduction polynomial x^8 + x^4 + x^3 + x + 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mpcstats._errors import ConfigurationError
from mpcstats.core.randomness import Stream, element_count

__all__ = ["GF256"]


def _tables() -> tuple[np.ndarray, np.ndarray]:
    exp = np.zeros(512, dtype=np.int64)
    log = np.zeros(256, dtype=np.int64)
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x ^= (x << 1) ^ (0x11B if x & 0x80 else 0)  # multiply by the generator 3
        x &= 0xFF
    exp[255:510] = exp[:255]
    a = np.arange(256)
    la, lb = np.meshgrid(log[a], log[a], indexing="ij")
    product = exp[la + lb].astype(np.uint8)
    product[0, :] = 0
    product[:, 0] = 0
    inverse = np.zeros(256, dtype=np.uint8)
    inverse[1:] = exp[(255 - log[1:]) % 255]
    return product.reshape(-1), inverse


_PRODUCT, _INVERSE = _tables()


class GF256:
    """GF(2^8) with vectorised operations on uint8 arrays."""

    kind = "gf256"
    order = 256
    bits = 8
    width = 1

    def __repr__(self) -> str:
        return "GF256()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GF256)

    def __hash__(self) -> int:
        return hash("gf256")

    def array(self, values: Any) -> np.ndarray:
        arr = np.asarray(values)
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ConfigurationError("GF(2^8) elements are integers in [0, 255]")
        return arr.astype(np.uint8)

    def constant(self, value: int) -> int:
        return int(value) & 0xFF

    def zeros(self, shape: int | Sequence[int]) -> np.ndarray:
        return np.zeros(shape, dtype=np.uint8)

    def random(self, stream: Stream, shape: int | Sequence[int]) -> np.ndarray:
        count = element_count(shape)
        return stream.uint8(count).reshape(shape)

    def add(self, a: Any, b: Any) -> np.ndarray:
        return np.bitwise_xor(a, b, dtype=np.uint8)

    sub = add

    def neg(self, a: Any) -> np.ndarray:
        return np.asarray(a, dtype=np.uint8)

    def mul(self, a: Any, b: Any) -> np.ndarray:
        a = np.asarray(a, dtype=np.uint8)
        b = np.asarray(b, dtype=np.uint8)
        if a.ndim == 0 and b.ndim > 0:
            return self.scale(b, int(a))
        if b.ndim == 0 and a.ndim > 0:
            return self.scale(a, int(b))
        index = np.left_shift(a, 8, dtype=np.uint16)  # 16-bit indices: half the memory traffic
        index |= b
        return _PRODUCT[index]

    def scale(self, a: np.ndarray, c: int) -> np.ndarray:
        """a * c for a field constant c: one look-up in c's row of the product table."""
        return _PRODUCT[c << 8 : (c << 8) + 256][a]

    def lincomb(self, coefficients: Sequence[int], arrays: Sequence[Any]) -> np.ndarray:
        """sum_k coefficients[k] * arrays[k] (XOR of scaled terms)."""
        total: np.ndarray | None = None
        for c, arr in zip(coefficients, arrays, strict=True):
            if c:
                term = np.asarray(arr, dtype=np.uint8) if c == 1 else self.scale(arr, c)
                total = term.copy() if total is None else np.bitwise_xor(total, term, out=total)
        if total is None:
            return np.zeros(np.shape(arrays[0]), dtype=np.uint8)
        return total

    def inverse(self, a: int) -> int:
        if a == 0:
            raise ZeroDivisionError("0 has no inverse in GF(2^8)")
        return int(_INVERSE[a])

    def power(self, x: int, e: int) -> int:
        result = 1
        for _ in range(e):
            result = int(_PRODUCT[(result << 8) | x])
        return result

    def nbytes(self, elements: np.ndarray) -> int:
        return int(np.size(elements))

    def to_bytes(self, elements: np.ndarray) -> bytes:
        return np.ascontiguousarray(elements, dtype=np.uint8).tobytes()

    def from_bytes(self, data: bytes, shape: int | Sequence[int]) -> np.ndarray:
        if len(data) != element_count(shape):
            raise ConfigurationError("received GF(2^8) data does not match the expected shape")
        return np.frombuffer(data, dtype=np.uint8).reshape(shape).copy()
