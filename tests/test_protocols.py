"""Every protocol against its plaintext twin, for n in {3, 5, 7} (and n = 11 without PRSS)."""

from __future__ import annotations

import asyncio
import math
import os
from fractions import Fraction

import gmpy2
import numpy as np
import pytest

from mpcstats import protocols as P
from mpcstats._errors import (
    ConfigurationError,
    HeadroomError,
    ProtocolError,
    SingularMatrixError,
)
from mpcstats.core.field import PrimeField
from mpcstats.protocols import fixedpoint as fx
from mpcstats.protocols.linalg import SpdSolver, _scalings, field_inverse, solve_spd
from mpcstats.protocols.opening import open_elements, reconstruct_output
from mpcstats.protocols.session import Session
from mpcstats.simulator import LocalSimulator, RunResult
from tests.conftest import owned, party_counts
from tests.parties import run

BITS = 32
EDGES = np.array([0, 1, -1, 2**31 - 1, -(2**31) + 1, 12, 12, -7, 5, 0], dtype=np.int64)
OTHERS = np.array([0, -1, 1, 2**31 - 1, 2**31 - 1, 12, 13, -7, -5, 3], dtype=np.int64)


def _ints(values: np.ndarray) -> list[int]:
    return [int(v) for v in values]


async def _two_inputs(
    s: Session, x: np.ndarray, y: np.ndarray, bits: int = BITS
) -> tuple[P.Shared, P.Shared]:
    a = await P.input(s, owned(s, 0, x), owner=0, bits=bits)
    b = await P.input(s, owned(s, 1, y), owner=1, bits=bits)
    return a, b


def test_input_and_open_round_trip(n: int) -> None:
    async def program(s: Session) -> np.ndarray:
        a, _ = await _two_inputs(s, EDGES, OTHERS)
        return await P.open(s, a)

    assert all(_ints(out) == _ints(EDGES) for out in run(n, program).outputs)


def test_each_party_runs_in_the_process_its_configuration_says(
    n: int, request: pytest.FixtureRequest
) -> None:
    """Simulated parties share the test's process; the party processes are three others."""

    async def program(s: Session) -> int:
        await P.open(s, await P.input(s, owned(s, 0, EDGES), owner=0, bits=BITS))
        return os.getpid()

    pids = run(n, program).outputs
    if request.node.callspec.id.endswith("processes"):
        assert len(set(pids)) == 3 and os.getpid() not in pids
    else:
        assert pids == [os.getpid()] * n


def test_open_to_reaches_only_the_receiver(n: int) -> None:
    async def program(s: Session) -> np.ndarray | None:
        a, _ = await _two_inputs(s, EDGES, OTHERS)
        return await P.open_to(s, a, receiver=n - 1)

    outputs = run(n, program).outputs
    assert _ints(outputs[n - 1]) == _ints(EDGES)
    assert all(out is None for out in outputs[: n - 1])


def test_arithmetic_matches_numpy(n: int) -> None:
    async def program(s: Session) -> list[np.ndarray]:
        a, b = await _two_inputs(s, EDGES, OTHERS)
        m = await P.input(s, owned(s, 2, np.arange(12).reshape(3, 4) - 5), owner=2, bits=8)
        k = await P.input(s, owned(s, 0, np.arange(8).reshape(4, 2) * 3), owner=0, bits=8)
        return [
            await P.open(s, a + b),
            await P.open(s, a - b * 3),
            await P.open(s, await P.mul(s, a, b)),
            await P.open(s, await P.dot(s, a, b)),
            await P.open(s, await P.matmul(s, m, k)),
            await P.open(s, a.sum()),
        ]

    add, sub, product, inner, matrix, total = run(n, program).outputs[0]
    x, y = EDGES.astype(object), OTHERS.astype(object)
    assert _ints(add) == _ints(x + y)
    assert _ints(sub) == _ints(x - 3 * y)
    assert _ints(product) == _ints(x * y)
    assert int(inner) == int(np.dot(x, y))
    expected = (np.arange(12).reshape(3, 4) - 5) @ (np.arange(8).reshape(4, 2) * 3)
    assert np.array_equal(matrix.astype(np.int64), expected)
    assert int(total) == int(x.sum())


def test_comparisons_match_numpy_on_edges_and_ties(n: int) -> None:
    async def program(s: Session) -> list[np.ndarray]:
        a, b = await _two_inputs(s, EDGES, OTHERS)
        return [await P.open(s, await f(s, a, b)) for f in (P.lt, P.le, P.gt, P.ge, P.eq)] + [
            await P.open(s, await P.ltz(s, a)),
            await P.open(s, await P.is_zero(s, a)),
        ]

    lt, le, gt, ge, eq, ltz, zero = run(n, program).outputs[0]
    x, y = EDGES, OTHERS
    for got, want in [
        (lt, x < y),
        (le, x <= y),
        (gt, x > y),
        (ge, x >= y),
        (eq, x == y),
        (ltz, x < 0),
        (zero, x == 0),
    ]:
        assert _ints(got) == _ints(want.astype(int))


def test_comparison_masks_dealt_ahead_save_a_round(n: int) -> None:
    """Masks dealt beside another protocol give the same comparisons in one round less; they
    serve one batch, and masks dealt for another batch are refused."""

    async def program(s: Session) -> tuple[np.ndarray, np.ndarray, int, int]:
        a, _ = await _two_inputs(s, EDGES, OTHERS)
        before = s.stats.rounds
        alone = await P.ltz(s, a)
        rounds_alone = s.stats.rounds - before
        _, ahead = await s.together(P.open(s, a), P.comparison_masks(s, a.size, a.bits))
        before = s.stats.rounds
        dealt = await P.ltz(s, a, ahead=ahead)
        rounds_dealt = s.stats.rounds - before
        with pytest.raises(ConfigurationError, match="one batch only"):
            await P.ltz(s, a, ahead=ahead)  # a mask opened twice reveals a difference
        _, other = await s.together(P.open(s, a), P.comparison_masks(s, a.size, a.bits))
        with pytest.raises(ConfigurationError, match="masks dealt for"):
            await P.ltz(s, a.with_bits(a.bits + 1), ahead=other)
        return await P.open(s, alone), await P.open(s, dealt), rounds_alone, rounds_dealt

    alone, dealt, rounds_alone, rounds_dealt = run(n, program).outputs[0]
    assert _ints(alone) == _ints(dealt) == _ints((EDGES < 0).astype(int))
    assert rounds_dealt == rounds_alone - 1


@pytest.mark.parametrize("bits", [1, 2, 8, 19, BITS])
def test_opened_comparison_matches_numpy_in_fewer_rounds(n: int, bits: int) -> None:
    """open_ltz reveals the comparisons, and nothing but them and the masked values, in at
    least one round less than ltz then open; its masks dealt ahead are its own."""
    values = np.clip(EDGES, -(2**bits) + 1, 2**bits - 1)

    async def program(s: Session) -> tuple[np.ndarray, np.ndarray, int, int, list[str]]:
        a = await P.input(s, owned(s, 0, values), owner=0, bits=bits)
        before, first = s.stats.rounds, len(s.stats.openings)
        opened = await P.open_ltz(s, a, label="signs")
        rounds = s.stats.rounds - before
        labels = [o.label for o in s.stats.openings[first:]]
        before = s.stats.rounds
        await P.open(s, await P.ltz(s, a))
        rounds_ltz = s.stats.rounds - before
        _, ahead = await s.together(P.open(s, a), P.comparison_masks(s, a.size, bits, opened=True))
        with pytest.raises(ConfigurationError, match="opened comparisons"):
            await P.ltz(s, a, ahead=ahead)
        dealt = await P.open_ltz(s, a, ahead=ahead, label="signs")
        return opened, dealt, rounds, rounds_ltz, labels

    for opened, dealt, rounds, rounds_ltz, labels in run(n, program).outputs:
        assert _ints(opened) == _ints(dealt) == _ints((values < 0).astype(int))
        assert rounds <= rounds_ltz - 1
        assert labels == ["masked value (comparison)", "signs"]


@pytest.mark.parametrize("shift", [0, 1, 7, 31, 32])
def test_exact_shift_is_floor_division(shift: int, three: int) -> None:
    async def program(s: Session) -> np.ndarray:
        a, _ = await _two_inputs(s, EDGES, OTHERS)
        return await P.open(s, await P.shift_right(s, a, shift))

    got = run(three, program).outputs[0]
    assert _ints(got) == [int(v) >> shift for v in EDGES]


def test_min_max_of_vectors_and_pairs(n: int) -> None:
    async def program(s: Session) -> list[np.ndarray]:
        a, b = await _two_inputs(s, EDGES, OTHERS)
        return [
            await P.open(s, await P.vector_min(s, a)),
            await P.open(s, await P.vector_max(s, a)),
            await P.open(s, await P.minimum(s, a, b)),
            await P.open(s, await P.maximum(s, a, b)),
        ]

    vmin, vmax, pmin, pmax = run(n, program).outputs[0]
    assert int(vmin) == EDGES.min() and int(vmax) == EDGES.max()
    assert _ints(pmin) == _ints(np.minimum(EDGES, OTHERS))
    assert _ints(pmax) == _ints(np.maximum(EDGES, OTHERS))


def test_all_equal_and_length_one_vectors(three: int) -> None:
    async def program(s: Session) -> list[np.ndarray]:
        same = await P.input(s, owned(s, 0, np.full(9, 42)), owner=0, bits=8)
        one = await P.input(s, owned(s, 1, np.array([-3])), owner=1, bits=8)
        return [
            await P.open(s, await P.vector_max(s, same)),
            await P.open(s, await P.eq(s, same, same)),
            await P.open(s, await P.vector_min(s, one)),
            await P.open(s, await P.ltz(s, one)),
        ]

    vmax, eq, vmin, neg = run(three, program).outputs[0]
    assert int(vmax) == 42 and _ints(eq) == [1] * 9 and int(vmin) == -3 and _ints(neg) == [1]


def test_large_batch_of_comparisons_is_exact(three: int) -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(-(2**31) + 1, 2**31, 100_000)
    y = np.where(rng.random(x.size) < 0.1, x, rng.integers(-(2**31) + 1, 2**31, x.size))

    async def program(s: Session) -> np.ndarray:
        a, b = await _two_inputs(s, x, y)
        return await P.open(s, await P.lt(s, a, b))

    result = run(three, program)
    assert np.array_equal(result.outputs[0].astype(np.int64), (x < y).astype(np.int64))
    assert result.rounds < 40  # batched: rounds do not grow with the vector length


def test_many_parties_without_prss_use_interactive_randomness() -> None:
    async def program(s: Session) -> list[np.ndarray | None]:
        assert s.prss is None  # C(11, 5) sets are too many for PRSS
        a, b = await _two_inputs(s, EDGES, OTHERS)
        return [
            await P.open(s, await P.mul(s, a, b)),
            await P.open(s, await P.lt(s, a, b)),
            await P.open_to(s, a, receiver=0),
        ]

    product, less, to_zero = run(11, program).outputs[0]
    assert _ints(product) == _ints(EDGES.astype(object) * OTHERS.astype(object))
    assert _ints(less) == _ints((EDGES < OTHERS).astype(int))
    assert _ints(to_zero) == _ints(EDGES)


FRAC = 32
REALS = np.array([0.001, 0.5, 1.0, 3.7, 1234.5, 99999.0])
SIGNED = np.array([-3.0, -1.0, 0.0, 0.5, 2.0, 10.0])


def _fixed_point_results(n: int) -> dict[str, np.ndarray]:
    async def program(s: Session) -> dict[str, np.ndarray]:
        x = await P.input(s, owned(s, 0, REALS), owner=0, bits=FRAC + 18, frac=FRAC)
        y = await P.input(s, owned(s, 1, SIGNED), owner=1, bits=FRAC + 5, frac=FRAC)
        return {
            "mul": await P.open(s, await fx.mul(s, x, y)),
            "truncate": await P.open(s, await fx.truncate(s, y, 12)),
            "truncate_exact": await P.open(s, await fx.truncate(s, y, 12, exact=True)),
            "reciprocal": await P.open(s, await fx.reciprocal(s, x)),
            "div": await P.open(s, await fx.div(s, y, x)),
            "sqrt": await P.open(s, await fx.sqrt(s, x)),
            "log": await P.open(s, await fx.log(s, x)),
            "exp": await P.open(s, await fx.exp(s, y)),
        }

    return run(n, program, modulus_bits=256).outputs[0]  # type: ignore[no-any-return]


def test_fixed_point_functions_match_numpy(n: int) -> None:
    got = _fixed_point_results(n)
    step = 2.0**-FRAC
    x = np.round(REALS * 2**FRAC) / 2**FRAC  # the encoded inputs
    y = SIGNED
    t = (n - 1) // 2
    assert np.all(np.abs(got["mul"] - x * y) <= 2 * step * (t + 1))
    assert np.all(np.abs(got["truncate"] - y) <= 2.0 ** -(FRAC - 12) * (t + 1))
    assert np.array_equal(got["truncate_exact"], np.floor(y * 2 ** (FRAC - 12)) / 2 ** (FRAC - 12))
    np.testing.assert_allclose(got["reciprocal"], 1 / x, rtol=1e-9, atol=4 * step)
    np.testing.assert_allclose(got["div"], y / x, rtol=1e-9, atol=4 * step)
    np.testing.assert_allclose(got["sqrt"], np.sqrt(x), rtol=1e-9, atol=4 * step)
    np.testing.assert_allclose(got["log"], np.log(x), rtol=1e-9, atol=8 * step)
    np.testing.assert_allclose(got["exp"], np.exp(y), rtol=1e-8, atol=8 * step)


@pytest.mark.parametrize(("seed", "d"), [(1, 11), (2, 11), (50, 50)])
def test_spd_solve_is_within_1e_9_of_numpy(seed: int, d: int, three: int) -> None:
    rng = np.random.default_rng(seed)
    design = rng.normal(size=(400, d)) * rng.uniform(0.1, 30, size=d)
    a_plain, b_plain = design.T @ design, rng.normal(size=d) * 10

    async def program(s: Session) -> tuple[np.ndarray, int]:
        a = await P.input(s, owned(s, 0, a_plain), owner=0, bits=64, frac=40)
        b = await P.input(s, owned(s, 1, b_plain), owner=1, bits=50, frac=40)
        before = s.stats.rounds
        x = await solve_spd(s, a, b)
        rounds = s.stats.rounds - before
        return await P.open(s, x), rounds

    solution, rounds = run(three, program, modulus_bits=320).outputs[0]
    a_enc = np.round(a_plain * 2**40) / 2**40
    b_enc = np.round(b_plain * 2**40) / 2**40
    reference = np.linalg.solve(a_enc, b_enc)
    assert np.max(np.abs(solution - reference)) <= 1e-9 * np.max(np.abs(reference))
    assert rounds <= 100


def test_spd_inverse_is_within_1e_9_of_numpy(three: int) -> None:
    from mpcstats.protocols.linalg import inverse_spd

    rng = np.random.default_rng(8)
    design = rng.normal(size=(200, 6)) * rng.uniform(0.5, 20, size=6)
    a_plain = design.T @ design

    async def program(s: Session) -> np.ndarray:
        a = await P.input(s, owned(s, 0, a_plain), owner=0, bits=60, frac=40)
        return await P.open(s, await inverse_spd(s, a))

    inverse = run(three, program, modulus_bits=320).outputs[0]
    reference = np.linalg.inv(np.round(a_plain * 2**40) / 2**40)
    assert np.max(np.abs(inverse - reference)) <= 1e-9 * np.max(np.abs(reference))


def _weighted_gram(design: np.ndarray, log_weights: np.ndarray) -> np.ndarray:
    return (design * np.exp(log_weights)[:, None]).T @ design


@party_counts(3, 5)
def test_a_warm_solve_starts_from_the_previous_inverse(n: int) -> None:
    """A sequence of Hessians whose weights move by at most e^M: the second and third solves
    start warm, take far fewer rounds than the cold one and stay within 1e-9 of numpy."""
    rng = np.random.default_rng(21)
    design = rng.normal(size=(300, 8)) * rng.uniform(0.2, 20, size=8)
    drifts = [3.0, 0.01]
    log_weights = [rng.uniform(-1, 0, 300)]
    for drift in drifts:
        log_weights.append(log_weights[-1] + rng.uniform(-drift, drift, 300))
    systems = [(_weighted_gram(design, w), rng.normal(size=8) * 10) for w in log_weights]

    async def program(s: Session) -> tuple[list[np.ndarray], list[int], int]:
        solver = SpdSolver(s, condition=1e6, work=64)
        solutions, rounds = [], []
        for (a_plain, b_plain), drift in zip(systems, [math.inf, *drifts], strict=True):
            a = await P.input(s, owned(s, 0, a_plain), owner=0, bits=64, frac=40)
            b = await P.input(s, owned(s, 1, b_plain), owner=1, bits=50, frac=40)
            before = s.stats.rounds
            x = await solver.solve(a, b, drift=drift)
            rounds.append(s.stats.rounds - before)
            solutions.append(await P.open(s, x))
        return solutions, rounds, solver.warm_starts

    solutions, rounds, warm = run(n, program, modulus_bits=448).outputs[0]
    assert warm == 2
    assert rounds[1] < rounds[0] * 0.6 and rounds[2] < rounds[0] * 0.3
    for (a_plain, b_plain), solution in zip(systems, solutions, strict=True):
        a_enc = np.round(a_plain * 2**40) / 2**40
        reference = np.linalg.solve(a_enc, np.round(b_plain * 2**40) / 2**40)
        # the solution is rounded to 2^-40 (with probabilistic truncation): a few of those
        # steps may exceed 1e-9 of a solution as small as 1e-3
        bound = max(1e-9 * np.max(np.abs(reference)), 4 * 2.0**-40)
        assert np.max(np.abs(solution - reference)) <= bound


def test_coupled_newton_schulz_steps_are_as_accurate_in_fewer_rounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A system at the solver's condition bound (1e7): the coupled steps (X and M = A'X in
    one round) end as close to numpy as the plain steps (two rounds each), in ~30% fewer rounds."""
    from mpcstats.protocols import linalg

    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(11, 11)))
    a_plain, b_plain = (q * np.geomspace(1, 1e7, 11)) @ q.T, rng.normal(size=11) * 10

    def solve() -> tuple[np.ndarray, int]:
        async def program(s: Session) -> tuple[np.ndarray, int]:
            a = await P.input(s, owned(s, 0, a_plain), owner=0, bits=72, frac=40)
            b = await P.input(s, owned(s, 1, b_plain), owner=1, bits=50, frac=40)
            before = s.stats.rounds
            x = await SpdSolver(s, condition=1e7).solve(a, b)
            rounds = s.stats.rounds - before
            return await P.open(s, x), rounds

        return run(3, program, modulus_bits=640).outputs[0]  # monkeypatched: in this process

    coupled, coupled_rounds = solve()
    monkeypatch.setattr(linalg, "_split", lambda scalings: ([], scalings))
    plain, plain_rounds = solve()
    a_enc, b_enc = (np.round(v * 2**40) / 2**40 for v in (a_plain, b_plain))
    reference = np.linalg.solve(a_enc, b_enc)
    for solution in (coupled, plain):  # the rounding of 56 working bits at condition 1e7
        assert np.max(np.abs(solution - reference)) <= 1e-9 * np.max(np.abs(reference))
    assert coupled_rounds <= 0.75 * plain_rounds


def test_a_solve_dealt_ahead_shares_the_pooling_round(three: int) -> None:
    """The masks of a prepared solve travel with the round that inputs A and b: the solve then
    costs one round less than alone, gives the same solution, and refuses another system or a
    second use."""
    rng = np.random.default_rng(8)
    design = rng.normal(size=(200, 5)) * rng.uniform(0.5, 5, size=5)
    a_plain, b_plain = design.T @ design, rng.normal(size=5)

    async def program(s: Session) -> tuple[np.ndarray, np.ndarray, int, int]:
        async def inputs() -> tuple[P.Shared, P.Shared]:
            a = await P.input(s, owned(s, 0, a_plain), owner=0, bits=48, frac=30)
            b = await P.input(s, owned(s, 1, b_plain), owner=1, bits=40, frac=30)
            return a, b

        before = s.stats.rounds
        a, b = await inputs()
        alone = await SpdSolver(s, condition=1e5).solve(a, b)
        rounds_alone = s.stats.rounds - before
        solver = SpdSolver(s, condition=1e5)
        plan = solver.prepare(5, (48, 30), (40, 30))
        before = s.stats.rounds
        (a, b), masks = await s.together(inputs(), solver.deal(plan))
        ahead = await solver.solve(a, b, ahead=(plan, masks))
        rounds_ahead = s.stats.rounds - before
        with pytest.raises(ConfigurationError, match="prepared for"):
            await solver.solve(a.with_bits(49), b, ahead=(plan, masks))
        with pytest.raises(ConfigurationError, match="before another solve"):
            await solver.solve(a, b, ahead=(plan, masks))  # the plan was used
        return await P.open(s, alone), await P.open(s, ahead), rounds_alone, rounds_ahead

    alone, ahead, rounds_alone, rounds_ahead = run(three, program, modulus_bits=320).outputs[0]
    assert rounds_ahead == rounds_alone - 1
    a_enc, b_enc = (np.round(v * 2**30) / 2**30 for v in (a_plain, b_plain))
    reference = np.linalg.solve(a_enc, b_enc)
    bound = max(1e-9 * np.max(np.abs(reference)), 4 * 2.0**-30)  # the solution's last bits
    for solution in (alone, ahead):
        assert np.max(np.abs(solution - reference)) <= bound


def test_a_large_drift_restarts_cold(three: int) -> None:
    rng = np.random.default_rng(4)
    design = rng.normal(size=(100, 4))
    a_plain = design.T @ design

    async def program(s: Session) -> int:
        solver = SpdSolver(s, condition=1e5, work=56)
        a = await P.input(s, owned(s, 0, a_plain), owner=0, bits=40, frac=24)
        await solver.inverse(a)
        await solver.inverse(a, drift=7.0)  # beyond what a 2^-12 scaling can centre
        return solver.warm_starts

    assert run(three, program, modulus_bits=320).outputs[0] == 0


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (1 / (8 * 11 * 1e7), 1.0),
        (math.exp(-5.9), math.exp(5.9)),
        (0.5, 2.0),
        (1 - 2.0**-20, 1 + 2.0**-20),
    ],
)
def test_the_newton_schulz_schedule_brings_every_eigenvalue_within_2_to_the_minus_48(
    low: float, high: float
) -> None:
    """Each eigenvalue lambda of A'X follows lambda <- alpha lambda (2 - alpha lambda)."""
    with gmpy2.context(gmpy2.get_context(), precision=256):
        points = [gmpy2.mpfr(low) + (gmpy2.mpfr(high) - low) * i / 64 for i in range(65)]
        for c in _scalings(low, high):
            points = [c * x / 2**12 * (2 - c * x / 2**12) for x in points]
        assert max(abs(1 - x) for x in points) <= gmpy2.mpfr(2) ** -48


def _exact_inverse(a_plain: np.ndarray, n: int) -> tuple[list[list[Fraction]], RunResult]:
    """A^-1 by the masked field inversion, opened and read back as fractions."""

    async def program(s: Session) -> tuple[np.ndarray, int]:
        a = await P.input(s, owned(s, 0, a_plain), owner=0, bits=40)
        before = s.stats.rounds
        inverse = await field_inverse(s, a)
        rounds = s.stats.rounds - before
        opened = await open_elements(s, s.field, inverse, label="inverse")
        assert opened is not None
        return opened, rounds

    result = run(n, program, modulus_bits=512, record_openings=True)
    field = PrimeField.with_bits(512)
    opened, rounds = result.outputs[0]
    assert rounds == (1 if n <= 9 else 3)  # without PRSS: also dealing R and reducing A R
    return [[field.rational(int(v), 2**200, 2**200) for v in row] for row in opened], result


@party_counts(3, 5, 7, 11)  # 11: no PRSS
def test_field_inverse_is_exact(n: int) -> None:
    rng = np.random.default_rng(n)
    design = rng.integers(-1000, 1000, size=(40, 5))
    a_plain = design.T @ design
    a_plain[:, 4] = a_plain[:, 3] * 3 + 1  # not symmetric: any invertible matrix will do
    inverse, result = _exact_inverse(a_plain, n)
    identity = [
        [sum(Fraction(int(a_plain[i, k])) * inverse[k][j] for k in range(5)) for j in range(5)]
        for i in range(5)
    ]
    assert identity == [[Fraction(int(i == j)) for j in range(5)] for i in range(5)]
    opened = {o.label: o.count for o in result.stats[0].openings}
    assert opened == {"masked matrix": 25, "inverse": 25}


def test_field_inverse_of_a_singular_matrix_says_so() -> None:
    singular = np.array([[2, 4, 1], [1, 2, 5], [3, 6, 0]])  # column 2 = 2 x column 1
    with pytest.raises(SingularMatrixError, match="3 x 3 matrix is singular"):
        _exact_inverse(singular, 3)


def test_concurrent_sessions_in_one_event_loop_do_not_interfere() -> None:

    def program(values: np.ndarray):  # type: ignore[no-untyped-def]
        async def inner(s: Session) -> np.ndarray:
            a = await P.input(s, owned(s, 0, values), owner=0, bits=16)
            return await P.open(s, await P.mul(s, a, a))

        return inner

    async def both() -> list[np.ndarray]:
        first, second = await asyncio.gather(
            LocalSimulator(n=3).run_async(program(np.arange(5))),
            LocalSimulator(n=5).run_async(program(np.arange(5) + 100)),
        )
        return [first.outputs[0], second.outputs[0]]

    first, second = asyncio.run(both())
    assert _ints(first) == [v * v for v in range(5)]
    assert _ints(second) == [(v + 100) ** 2 for v in range(5)]


@party_counts(3, 11)
def test_random_bits_and_bounded_integers(n: int) -> None:
    async def program(s: Session) -> list[np.ndarray]:
        bits = await P.random_bits(s, 4000)
        ints = await P.random_integers(s, 4000, 20)
        return [await P.open(s, bits), await P.open(s, ints), np.array(ints.bits)]

    bits, ints, bound = run(n, program).outputs[0]
    assert set(np.unique(bits.astype(np.int64))) == {0, 1}
    assert 1800 < int(bits.sum()) < 2200  # a fair coin: 4000 flips within 6 sigma
    assert ints.min() >= 0 and max(ints) < 2 ** int(bound)
    assert len(set(ints.tolist())) > 3900  # not a constant or a short cycle


def test_input_all_shares_every_party_array_in_one_round(n: int) -> None:
    async def program(s: Session) -> tuple[list[np.ndarray], int]:
        before = s.stats.rounds
        parts = await P.input_all(s, np.array([s.party, 10 * s.party]), bits=16)
        rounds = s.stats.rounds - before
        return [await P.open(s, part) for part in parts], rounds

    opened, rounds = run(n, program).outputs[0]
    assert rounds == 1
    assert [_ints(v) for v in opened] == [[i, 10 * i] for i in range(n)]


def test_the_pooling_round_carries_the_prss_keys(n: int) -> None:
    async def program(s: Session) -> np.ndarray:
        with pytest.raises(ProtocolError, match="first input_all round"):
            _ = s.prss  # the keys are drawn, not yet delivered: no silent fallback
        parts = await P.input_all(s, np.array([s.party + 1, -s.party]), bits=16)
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return P.output_share(s, total)  # needs every party's keys to agree

    result = run(n, program, pooled_setup=True)
    assert result.rounds == 1
    shares = dict(enumerate(result.outputs))
    total = reconstruct_output(PrimeField.with_bits(127), shares, result.output_degree, 0)
    assert _ints(total) == [n * (n + 1) // 2, -n * (n - 1) // 2]


@party_counts(3, 5)
def test_protocols_run_together_in_the_rounds_of_the_longest(n: int) -> None:
    """Session.together merges rounds: a product, a comparison and a nested pair cost the
    comparison's rounds, one message per peer per round, with the results of running alone."""
    x_plain, y_plain = np.array([3, -7, 12, 0]), np.array([5, 2, -4, 0])

    async def program(s: Session) -> tuple[list[list[int]], list[int], int, int]:
        x = await P.input(s, owned(s, 0, x_plain), owner=0, bits=16)
        y = await P.input(s, owned(s, 1, y_plain), owner=1, bits=16)
        alone = []
        for protocol in (P.mul(s, x, y), P.lt(s, x, y)):
            start = s.stats.rounds
            await protocol
            alone.append(s.stats.rounds - start)
        start, sent = s.stats.rounds, s.stats.messages_sent

        async def nested() -> list[P.Shared]:
            return await s.together(P.mul(s, x, x), P.lt(s, y, x))

        product, less, (square, greater) = await s.together(P.mul(s, x, y), P.lt(s, x, y), nested())
        rounds, messages = s.stats.rounds - start, s.stats.messages_sent - sent
        opened = [await P.open(s, v) for v in (product, less, square, greater)]
        return [[int(v) for v in o] for o in opened], alone, rounds, messages

    outputs = run(n, program).outputs
    values, alone, rounds, _ = outputs[0]
    assert values == [
        (x_plain * y_plain).tolist(),
        (x_plain < y_plain).astype(int).tolist(),
        (x_plain * x_plain).tolist(),
        (y_plain < x_plain).astype(int).tolist(),
    ]
    assert rounds == max(alone) and alone[0] < alone[1]
    assert all(messages <= rounds * (n - 1) for *_, messages in outputs)


def test_a_failing_protocol_stops_the_protocols_run_with_it(three: int) -> None:
    async def program(s: Session) -> None:
        x = await P.input(s, owned(s, 0, np.array([1, 2])), owner=0, bits=16)
        wide = P.Shared(x.field, x.share, 200, 0)  # beyond the field's headroom
        await s.together(P.lt(s, x, x), P.mul(s, wide, wide))

    with pytest.raises(HeadroomError, match="a product"):
        run(three, program)
