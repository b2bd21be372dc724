"""Fields, encoding and Shamir sharing (no communication)."""

from __future__ import annotations

import hashlib
import itertools
from fractions import Fraction

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcstats import ConfigurationError, ProtocolError
from mpcstats.core._primes import PRIME_OFFSETS
from mpcstats.core.field import PrimeField, choose_prime, search_prime
from mpcstats.core.gf256 import GF256
from mpcstats.core.randomness import Stream, element_count, little_endian_ints
from mpcstats.core.shamir import interpolate, share
from mpcstats.protocols.opening import decode
from mpcstats.protocols.sharing import encode

P127 = PrimeField.with_bits(127)
HALF = P127.order // 2


def _slow_gf256_mul(a: int, b: int) -> int:
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return product


def test_gf256_table_matches_carryless_multiplication() -> None:
    field = GF256()
    a, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    table = field.mul(a.astype(np.uint8), b.astype(np.uint8))
    expected = np.vectorize(_slow_gf256_mul)(a, b)
    assert np.array_equal(table, expected)
    assert all(_slow_gf256_mul(x, field.inverse(x)) == 1 for x in range(1, 256))


@pytest.mark.parametrize("bits", [64, 127, 128, 192, 256, 521])
def test_choose_prime_gives_a_prime_of_at_least_the_requested_size(bits: int) -> None:
    p = choose_prime(bits)
    assert gmpy2.is_prime(p) and p.bit_length() >= min(bits, 127)


def test_the_prime_table_matches_the_search_and_holds_only_primes() -> None:
    """Every multiple of 64 from 128 to 8192 bits is tabulated; entries up to 1,024 bits are
    re-derived by the search, and all are prime (GMP's BPSW test: about 20 s for the table)."""
    assert sorted(PRIME_OFFSETS) == list(range(128, 8193, 64))
    for bits, offset in PRIME_OFFSETS.items():
        prime = (1 << bits) - offset
        assert choose_prime(bits) == prime and PrimeField(prime).bits == bits
        if bits <= 1024:
            assert search_prime(bits) == prime, bits
        assert gmpy2.is_prime(prime, 1), bits  # reps below 25: BPSW alone, in GMP >= 6.2
    assert choose_prime(200) == search_prime(200)  # not tabulated: searched


def test_non_prime_modulus_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="odd prime"):
        PrimeField(2**127)


@given(st.lists(st.integers(min_value=-HALF, max_value=HALF), min_size=1, max_size=20))
def test_signed_integers_round_trip_through_the_field(values: list[int]) -> None:
    assert list(P127.signed(P127.array(np.array(values, dtype=object)))) == values


@given(
    st.lists(
        st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=20,
    ),
    st.integers(min_value=0, max_value=60),
)
def test_fixed_point_encoding_rounds_to_the_nearest_step(values: list[float], frac: int) -> None:
    x = np.array(values)
    decoded = decode(P127, P127.array(encode(x, frac)), frac)
    # half a step from rounding, plus float64's own rounding of the decoded value
    assert np.all(np.abs(decoded - x) <= 2.0 ** (-frac - 1) + np.abs(x) * 2.0**-52)


def test_encoding_refuses_nan() -> None:
    with pytest.raises(ConfigurationError, match="finite"):
        encode(np.array([1.0, np.nan]), 8)


@settings(max_examples=30)
@given(
    st.lists(st.integers(min_value=0, max_value=P127.order - 1), min_size=1, max_size=8),
    st.sampled_from([(3, 1), (5, 2), (7, 3), (16, 7)]),
)
def test_any_t_plus_1_shares_reconstruct_the_secret(
    secrets: list[int], nt: tuple[int, int]
) -> None:
    n, t = nt
    values = P127.array(np.array(secrets, dtype=object))
    shares = share(P127, values, n, t, Stream())
    for subset in itertools.islice(itertools.combinations(range(n), t + 1), 40):
        assert list(interpolate(P127, {i: shares[i] for i in subset}, t)) == secrets


@settings(max_examples=30)
@given(st.binary(min_size=1, max_size=32), st.sampled_from([(3, 1), (5, 2), (9, 4)]))
def test_gf256_sharing_reconstructs_from_any_t_plus_1(data: bytes, nt: tuple[int, int]) -> None:
    n, t = nt
    field = GF256()
    secrets = np.frombuffer(data, dtype=np.uint8)
    shares = share(field, secrets, n, t, Stream())
    for subset in itertools.combinations(range(n), t + 1):
        assert bytes(interpolate(field, {i: shares[i] for i in subset}, t)) == data


@pytest.mark.parametrize("bits", [61, 127, 192, 256, 320, 448])
@pytest.mark.parametrize("count", [0, 1, 31, 32, 100])
def test_decoding_agrees_with_int_from_bytes_for_every_width_and_count(
    bits: int, count: int
) -> None:
    """little_endian_ints has a limb path (narrow, many) and a per-element path: both exact."""
    width = (bits + 7) // 8
    data = Stream().bytes(width * count)
    expected = [int.from_bytes(data[i : i + width], "little") for i in range(0, len(data), width)]
    assert little_endian_ints(data, width).tolist() == expected
    assert element_count((count, 1)) == element_count(count) == count


def test_too_few_shares_are_refused() -> None:
    shares = share(P127, P127.array([5]), 5, 2, Stream())
    with pytest.raises(ConfigurationError, match="needs 3 shares"):
        interpolate(P127, {0: shares[0], 1: shares[1]}, 2)


def test_wire_format_round_trips_and_rejects_values_outside_the_field() -> None:
    values = P127.random(Stream(), (4, 3))
    assert np.array_equal(P127.from_bytes(P127.to_bytes(values), (4, 3)), values)
    bad = (P127.order).to_bytes(P127.width, "little")
    with pytest.raises(ConfigurationError, match="outside the field"):
        P127.from_bytes(bad, (1,))
    with pytest.raises(ConfigurationError, match="shape"):
        P127.from_bytes(P127.to_bytes(values), (5, 3))


def test_streams_with_the_same_key_agree_and_hide_the_key() -> None:
    key = bytes(range(32))
    assert Stream(key).bytes(100) == Stream(key).bytes(100)
    assert Stream(key).bytes(100) != Stream().bytes(100)
    assert "hidden" in repr(Stream(key))


@given(
    st.integers(-(2**200), 2**200),
    st.integers(1, 2**200),
)
def test_rational_reconstruction_recovers_fractions_within_the_bounds(num: int, den: int) -> None:
    field = PrimeField.with_bits(420)
    element = num * field.inverse(den % field.order) % field.order
    assert field.rational(element, 2**200, 2**200) == Fraction(num, den)


def test_rational_reconstruction_refuses_loose_bounds_and_foreign_values() -> None:
    field = PrimeField.with_bits(127)
    with pytest.raises(ConfigurationError, match="too small"):
        field.rational(5, 2**64, 2**64)
    # an element that looks uniform is a fraction with 20-bit parts with probability ~2^-86
    uniform = int.from_bytes(hashlib.sha256(b"not a fraction").digest()) % field.order
    with pytest.raises(ProtocolError, match="not a fraction"):
        field.rational(uniform, 2**20, 2**20)
