"""Privacy checks that can fail: what t parties see, and what the protocols open."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mpcstats import protocols as P
from mpcstats.core.field import PrimeField
from mpcstats.core.gf256 import GF256
from mpcstats.core.randomness import Stream
from mpcstats.core.shamir import share
from mpcstats.protocols import fixedpoint as fx
from mpcstats.protocols.opening import reconstruct_output
from mpcstats.protocols.session import Session
from mpcstats.stats.secure import (
    SUPPRESSION_PASSES,
    at_least_public,
    gate_at_least,
    open_gate,
    open_if_at_least,
    suppress,
)
from tests.conftest import owned, party_counts
from tests.parties import run

SAMPLES = 4000


def _top_bits(values: np.ndarray, field: PrimeField, bits: int = 4) -> np.ndarray:
    return np.array([int(v) >> (field.bits - bits) for v in values], dtype=np.int64)


def _same_distribution(a: np.ndarray, b: np.ndarray, buckets: int) -> float:
    """p-value of a chi-square test that two samples of bucket ids share one distribution."""
    table = np.array([np.bincount(a, minlength=buckets), np.bincount(b, minlength=buckets)])
    table = table[:, table.sum(axis=0) > 0]
    return float(stats.chi2_contingency(table)[1])


@pytest.mark.parametrize(("n", "t"), [(3, 1), (5, 2), (7, 3)])
def test_t_shares_are_independent_of_the_secret(n: int, t: int) -> None:
    field = PrimeField.with_bits(127)
    stream = Stream()

    def seen(secret: int) -> np.ndarray:
        shares = share(field, field.array(np.full(SAMPLES, secret, dtype=object)), n, t, stream)
        # the t corrupt parties' shares, each reduced to its top 2 bits, combined into one id
        ids = np.zeros(SAMPLES, dtype=np.int64)
        for party in range(t):
            ids = ids * 4 + _top_bits(shares[party], field, 2)
        return ids

    assert _same_distribution(seen(0), seen(field.order - 1), 4**t) > 1e-4


def test_a_degree_zero_sharing_would_fail_the_independence_check() -> None:
    field = PrimeField.with_bits(127)
    low = share(field, field.array([0] * SAMPLES), 3, 0, Stream())[0]
    high = share(field, field.array([field.order - 1] * SAMPLES), 3, 0, Stream())[0]
    assert _same_distribution(_top_bits(low, field), _top_bits(high, field), 16) < 1e-6


def test_gf256_shares_of_a_bit_are_uniform_bytes() -> None:
    field = GF256()
    zeros = share(field, np.zeros(SAMPLES * 4, dtype=np.uint8), 3, 1, Stream())[0]
    ones = share(field, np.ones(SAMPLES * 4, dtype=np.uint8), 3, 1, Stream())[0]
    assert _same_distribution(zeros.astype(np.int64), ones.astype(np.int64), 256) > 1e-4


def _openings(value: int, count: int, label_part: str, opened: bool = False) -> list[np.ndarray]:
    async def program(s: Session) -> None:
        x = await P.input(s, owned(s, 0, np.full(count, value)), owner=0, bits=32)
        await (P.open_ltz(s, x, label="sign") if opened else P.ltz(s, x))

    result = run(3, program, record_openings=True)
    return [
        o.values for o in result.stats[1].openings if label_part in o.label and o.values is not None
    ]


@pytest.mark.parametrize("opened", [False, True], ids=["ltz", "open_ltz"])
@pytest.mark.usefixtures("three")
def test_comparison_openings_do_not_depend_on_the_input(opened: bool) -> None:
    count = SAMPLES
    low = _openings(0, count, "masked value", opened)[0]
    high = _openings(2**31 - 1, count, "masked value", opened)[0]
    # c = x + 2^32 + r with r of about 2^73: its leading bits are the mask's, not the input's
    as_real = lambda c: np.array([float(v) for v in c]) / 2.0**75  # noqa: E731
    assert stats.ks_2samp(as_real(low), as_real(high)).pvalue > 1e-4
    # without the mask the two samples would be constants 2^32 apart: the test would fail
    unmasked = np.full(count, 2.0**32), np.full(count, 2.0**32 + 2**31 - 1)
    assert stats.ks_2samp(*unmasked).pvalue < 1e-6


@pytest.mark.usefixtures("three")
def test_field_conversion_openings_are_uniform_bits() -> None:
    for value in (0, -5, 2**31 - 1):
        opened = _openings(value, SAMPLES, "daBit")[0]
        assert set(np.unique(opened)) <= {0, 1}
        assert stats.binomtest(int(opened.sum()), opened.size, 0.5).pvalue > 1e-4


def test_a_comparison_opens_only_masked_values_and_conversion_bits(three: int) -> None:
    async def program(s: Session) -> None:
        x = await P.input(s, owned(s, 0, np.arange(10)), owner=0, bits=32)
        await P.lt(s, x, x * 2)

    result = run(three, program, record_openings=True)
    labels = {o.label for o in result.stats[0].openings}
    assert labels == {"masked value (comparison)", "bit xor daBit (field conversion)"}


def test_reprs_do_not_show_shares_or_keys(three: int) -> None:
    async def program(s: Session) -> list[str]:
        x = await P.input(s, owned(s, 0, np.array([123456789])), owner=0, bits=32)
        return [repr(x), repr(s), repr(s.prss)]

    result = run(three, program)
    texts = result.outputs[0]
    assert all("123456789" not in text for text in texts)
    assert "hidden" in texts[2]
    assert repr(result) == "RunResult(parties=3, rounds=2, output_degree=2)"  # setup, input


def test_truncation_openings_do_not_depend_on_the_input(three: int) -> None:
    def opened(value: float) -> np.ndarray:
        async def program(s: Session) -> None:
            x = await P.input(s, owned(s, 0, np.full(SAMPLES, value)), owner=0, bits=40, frac=32)
            await fx.truncate(s, x, 16)

        result = run(three, program, record_openings=True)
        return next(o.values for o in result.stats[2].openings if "truncation" in o.label)

    low, high = opened(0.0), opened(255.0)
    as_real = lambda c: np.array([float(v) for v in c]) / 2.0**82  # noqa: E731
    assert stats.ks_2samp(as_real(low), as_real(high)).pvalue > 1e-4


@party_counts(3, 11)
def test_the_gate_releases_only_counts_of_at_least_k(n: int) -> None:
    counts = np.array([0, 1, 4, 5, 6, 1000] + [7] * 300)
    sums = np.arange(counts.size) - 100

    async def program(s: Session) -> tuple[dict[str, np.ndarray], np.ndarray, list[int | None]]:
        count = await P.input(s, owned(s, 0, counts), owner=0, bits=20)
        total = await P.input(s, owned(s, 1, sums), owner=1, bits=20)
        outputs = await gate_at_least(s, count, [count, total], k=5)
        public = await at_least_public(s, count, 5, label="guard")
        opened = await open_if_at_least(s, count, 5, label="counts of at least k")
        return {name: share for name, (share, _) in outputs.items()}, public, opened

    result = run(n, program)
    field = PrimeField.with_bits(127)
    degree = result.output_degree
    released = {
        name: reconstruct_output(
            field, {i: o[0][name] for i, o in enumerate(result.outputs)}, degree, 0
        )
        for name in result.outputs[0][0]
    }
    passed, (gated_counts, gated_sums) = open_gate(field, released, 2)
    assert passed.tolist() == (counts >= 5).tolist()
    assert all(np.array_equal(out[1], counts >= 5) for out in result.outputs)
    assert all(out[2] == [c if c >= 5 else None for c in counts] for out in result.outputs)
    assert gated_counts.tolist() == np.where(counts >= 5, counts, 0).tolist()
    assert gated_sums.tolist() == np.where(counts >= 5, sums, 0).tolist()
    # equal counts give unrelated gates: z = rho * n(n-1)...(n-4) with rho uniform
    gates = np.asarray(released["gate"][6:], dtype=object) % field.order
    top = np.array([int(z) >> (field.bits - 3) for z in gates], dtype=np.int64)
    assert len(set(gates.tolist())) == gates.size
    assert stats.chisquare(np.bincount(top, minlength=8)).pvalue > 1e-4  # p is just below 2^127


def _suppressed_in_plaintext(counts: np.ndarray, k: int) -> np.ndarray:
    """The rule: cells below k; then, for SUPPRESSION_PASSES passes over the axes, in each line
    with exactly one flag the first smallest unflagged cell; every cell if a line still has
    one flag."""
    flags = counts < k
    axes = [axis for axis, size in enumerate(counts.shape) if size > 1]
    for _ in range(SUPPRESSION_PASSES):
        for axis in axes:
            lines = np.moveaxis(counts, axis, -1).reshape(-1, counts.shape[axis])
            moved = np.moveaxis(flags, axis, -1)
            line_flags = moved.reshape(-1, counts.shape[axis]).copy()
            for line, flagged in zip(lines, line_flags, strict=True):
                if flagged.sum() == 1:
                    flagged[np.argmin(np.where(flagged, np.iinfo(np.int64).max, line))] = True
            flags = np.moveaxis(line_flags.reshape(moved.shape), -1, axis)
    if any((np.moveaxis(flags, axis, -1).sum(axis=-1) == 1).any() for axis in axes):
        return np.ones_like(flags)
    return flags


@party_counts(3, 5)
def test_complementary_suppression_follows_the_rule_with_ties(n: int) -> None:
    """Small counts with many ties: the secure flags equal the plaintext rule's, and nothing
    but masked values and conversion bits is opened."""
    rng = np.random.default_rng(n)
    tables = [rng.integers(0, 9, size=(4, 5)) for _ in range(3)] + [np.array([[3, 6, 6, 7]])]
    # one pass over rows then columns leaves rows b and c with one hidden cell each
    tables.append(np.array([[2, 10, 10], [8, 20, 20], [20, 7, 20]]))
    tables.append(rng.integers(0, 12, size=(2, 3, 4)))  # a 3-way table: lines along 3 axes
    # still a line with one hidden cell after three passes: hidden whole
    tables.append(
        np.array(
            [[38, 26, 7, 9, 1], [5, 31, 18, 28, 23], [34, 37, 21, 20, 29], [35, 20, 24, 7, 29]]
        )
    )

    async def program(s: Session) -> list[list[list[int]]]:
        out = []
        for table in tables:
            counts = await P.input(s, owned(s, 0, table), owner=0, bits=34)
            flags = await suppress(s, counts, 5)
            out.append((await P.open(s, flags)).astype(int).tolist())
        return out

    result = run(n, program, record_openings=True)
    for table, flags in zip(tables, result.outputs[0], strict=True):
        assert flags == _suppressed_in_plaintext(table, 5).astype(int).tolist(), table
        hidden = np.asarray(flags, dtype=bool)
        for axis in [a for a, size in enumerate(hidden.shape) if size > 1]:  # the guarantee
            assert not (np.moveaxis(hidden, axis, -1).sum(axis=-1) == 1).any(), table
    labels = {o.label for o in result.stats[0].openings}
    assert labels <= {"masked value (comparison)", "bit xor daBit (field conversion)", "output"}
