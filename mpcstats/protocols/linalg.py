"""Linear algebra on shared matrices: exact inverses over the field, and fixed-point solves.

Exact inverse over the field (:func:`field_inverse`), after Bar-Ilan and Beaver's inversion:
a secret uniform matrix R masks A, M = A R is opened (one round), and A^-1 = R M^-1 locally.
For an integer matrix A the entries of A^-1 mod p are the rationals adj(A)_ij / det(A); a
receiver recovers them exactly (:meth:`PrimeField.rational`) when p exceeds twice the product
of a numerator and a denominator bound, which :func:`hadamard_bits` gives from bounds on A's
columns. Use it when the inverse, or products with it, go to an analyst.

Leakage: M is uniform over the invertible matrices whatever an invertible A is, so opening it
reveals only whether A is invertible (a singular A gives a singular M:
:class:`~mpcstats.SingularMatrixError`).

Fixed-point solves of symmetric positive definite systems A x = b (:func:`solve_spd`), when the
parties themselves need the solution as a number:

1. Power-of-two Jacobi scaling: one batch of comparisons of the diagonal against every second
   power of two gives s_i, a power of two with s_i^2 A_ii in [1/4, 1); A' = S A S has its
   diagonal in [1/4, 1), so its largest eigenvalue is below d.
2. Scaled Newton-Schulz iteration X <- alpha X (2I - alpha A'X) from X0 = I / 2^ceil(log2 d),
   with public scalings alpha (:func:`_scalings`) that make the smallest eigenvalue of A'X grow
   four-fold per step until the error 1 - lambda contracts quadratically: 20 steps for d = 11
   and a condition bound of 1e7 (33 without the scaling), ending below 2^-48, far
   under the 1e-9 a solve promises.
3. A^-1 = S X S, and x = A^-1 b.

Each iteration is two fixed-point matrix products whose truncation masks are all drawn in one
round beforehand. Run as written, the products are sequential: two rounds per step. All but
the last two steps instead update the pair (X, M = A'X): X <- alpha X R and M <- alpha M R
with R = 2I - alpha M, two products side by side in one round (after one round for M0 = A'X0).
M then carries each step's rounding instead of being recomputed from A', and the two plain
steps at the end square that error away (:func:`_split`): a cold d = 11 solve (condition
1e5) takes 36 rounds instead of 49, equally accurate. The scaling is exact and local:
alpha X = c X / 2^12 is X times the integer c at 12 more fractional bits, which the products'
truncation removes.

A sequence of solves (:class:`SpdSolver`: the Hessians of a Newton fit) can deal each solve's
masks in the round that pools its system (:meth:`SpdSolver.prepare`), and skip steps 1 and
most of 2: when the caller bounds how far A moved since the last solve (e^-M A_prev <= A <=
e^M A_prev, public), the previous X is already a good start, with the spectrum of A'X_prev in
[e^-M, e^M]; near convergence two iterations suffice.

Accuracy: with working precision w fractional bits (default 56), the relative error of x is
about cond(A') 2^-w plus the error left by the iteration count, i.e. below 1e-9 for
cond(A') <= ``condition`` = 1e5 (the default). Systems with a larger condition number need a
larger ``condition`` (more iterations) and, beyond ~1e7, a larger ``work``.

Leakage: only masked values are opened (see :mod:`~mpcstats.protocols.fixedpoint`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gmpy2
import numpy as np

from mpcstats._errors import ConfigurationError, SingularMatrixError
from mpcstats.core.field import PrimeField
from mpcstats.protocols.arithmetic import reduce_degree
from mpcstats.protocols.comparison import ltz
from mpcstats.protocols.fixedpoint import (
    _exponent_factor,
    _exponent_factor_bits,
    mask_pools,
    matmul,
    mul,
)
from mpcstats.protocols.masks import Masks
from mpcstats.protocols.opening import open_elements
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared, concatenate
from mpcstats.protocols.sharing import random_field

__all__ = [
    "Prepared",
    "SpdSolver",
    "field_inverse",
    "hadamard_bits",
    "inverse_spd",
    "solve_spd",
    "spd_field_bits",
]


async def field_inverse(session: Session, a: Shared, label: str = "masked matrix") -> np.ndarray:
    """Degree-t shares of A^-1 over the field for a shared square matrix A.

    One round with PRSS keys (M = A R opened at degree 2t after a pseudo-random zero sharing
    re-randomises it), three without (R dealt, A R reduced, then opened).
    """
    d = a.shape[0]
    if a.shape != (d, d):
        raise ConfigurationError(f"only a square matrix has an inverse, got shape {a.shape}")
    field = session.field
    mask = await random_field(session, (d, d))
    product = field.dot(a.share, mask)
    if session.prss is not None:
        degree = 2 * session.t
        product = field.add(product, session.prss.zero(field, (d, d)))
    else:
        degree = session.t
        (product,) = await reduce_degree(session, [(field, product)])
    masked = await open_elements(session, field, product, degree=degree, label=label)
    assert masked is not None
    inverse = _public_inverse(field, masked)
    if inverse is None:
        raise SingularMatrixError(
            f"the {d} x {d} matrix is singular: some of its columns are linear combinations of "
            "others (which ones is not revealed)"
        )
    return field.dot(mask, inverse)


def _public_inverse(field: PrimeField, m: np.ndarray) -> np.ndarray | None:
    """M^-1 mod p by Gauss-Jordan elimination (in GMP integers), or None when M is singular."""
    p, d = gmpy2.mpz(field.order), m.shape[0]
    identity = [[gmpy2.mpz(i == j) for j in range(d)] for i in range(d)]
    rows = [[gmpy2.mpz(v) % p for v in m[i]] + identity[i] for i in range(d)]
    for col in range(d):
        pivot = next((r for r in range(col, d) if rows[r][col]), None)
        if pivot is None:
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        scale = gmpy2.invert(rows[col][col], p)
        rows[col] = [v * scale % p for v in rows[col]]
        for r in range(d):
            factor = rows[r][col]
            if r != col and factor:
                rows[r] = [(v - factor * w) % p for v, w in zip(rows[r], rows[col], strict=True)]
    out = np.empty((d, d), dtype=object)
    out[...] = [[int(v) for v in row[d:]] for row in rows]
    return out


def hadamard_bits(column_norms: list[float]) -> int:
    """Bits of Hadamard's bound prod_j ||a_j|| on |det A| (and on every cofactor, when each
    bound is at least 1), from upper bounds on the Euclidean norms of A's columns."""
    return math.ceil(sum(math.log2(max(norm, 1.0)) for norm in column_norms)) + 1


async def solve_spd(
    session: Session,
    a: Shared,
    b: Shared,
    *,
    condition: float = 1e5,
    work: int = 56,
    frac: int | None = None,
) -> Shared:
    """x with A x = b for a shared SPD matrix A (d x d) and vector b, both at one scale."""
    return await SpdSolver(session, condition=condition, work=work).solve(a, b, frac=frac)


async def inverse_spd(
    session: Session,
    a: Shared,
    *,
    condition: float = 1e5,
    work: int = 56,
    frac: int | None = None,
) -> Shared:
    """A^-1 for a shared SPD matrix A (accuracy as for :func:`solve_spd`); the scale as for
    :meth:`SpdSolver.inverse`."""
    return await SpdSolver(session, condition=condition, work=work).inverse(a, frac=frac)


def spd_field_bits(
    d: int, a_bits: int, a_frac: int, b_bits: int, *, condition: float, work: int, kappa: int
) -> int:
    """Bits of a prime field in which :class:`SpdSolver` (any mix of warm and cold solves) fits
    a d x d system whose entries have ``a_bits`` bits at scale ``a_frac``, and a right-hand
    side of ``b_bits`` bits: the widest products are A^-1 = S X S and A^-1 b."""
    bound = work + math.ceil(math.log2(8 * d * condition)) + 1 + 2 * _DRIFT_BITS  # X, any drift
    outer = 2 * work + a_frac + 6  # S S' exactly, s <= 2^(a_frac / 2)
    return max(bound + outer, bound + a_bits + b_bits) + kappa + 24


@dataclass(frozen=True)
class Prepared:
    """A solve's public schedule (:meth:`SpdSolver.prepare`): the system it is for, whether it
    starts warm, its Newton-Schulz scalings, the bounds it relies on, and its mask batches."""

    system: tuple[int, tuple[int, int], tuple[int, int] | None]  # d, A's and b's (bits, scale)
    after: int  # the number of solves run before it: a plan is for the next solve only
    warm: bool
    coupled: list[int]  # the scalings of the steps run coupled (one round each), then
    classic: list[int]  # those run as X <- alpha X (2I - alpha A'X) (two rounds each)
    upper: float
    lower: float
    bound: int
    scaled_bits: int
    m_bits: int
    inverse_frac: int
    solution_frac: int | None
    batches: list[tuple[int, int, int]]


@dataclass(frozen=True)
class _Inverse:
    """A solve's state: X ~ (S A S)^-1 at scale ``work``, S S' exactly at scale 2 ``work``, and
    public bounds on S A S: its entries are below ``upper`` and its eigenvalues above ``lower``."""

    x: Shared
    outer: Shared
    upper: float
    lower: float


class SpdSolver:
    """Fixed-point solves of a sequence of SPD systems A_1, A_2, ... (the Hessians of a Newton
    fit), each able to start from the previous one's inverse.

    A caller that knows a public ``drift`` M < 6 with e^-M A_prev <= A <= e^M A_prev (Loewner
    order) lets the next solve start warm: the eigenvalues of A' X_prev lie in [e^-M, e^M] (up
    to the previous solve's error), so :func:`_scalings` needs a handful of Newton-Schulz steps
    instead of ~20, and the previous Jacobi scaling S is kept, which saves its comparison batch.
    The bounds on S A S widen by e^M per warm solve; a solve starts cold (fresh scaling, X0 =
    I / 2^ceil(log2 d)) when they have drifted by more than 2^16 either way or when the cold
    schedule would not be longer.

    Leakage: as :func:`solve_spd`; whether a solve starts warm is a function of public values.
    """

    def __init__(self, session: Session, *, condition: float = 1e5, work: int = 56) -> None:
        self.session, self.condition, self.work = session, condition, work
        self._last: _Inverse | None = None
        self.warm_starts = 0  # how many solves started from the previous inverse
        self.last_inverse: Shared | None = None  # A^-1 of the last solve, as inverse() gives it
        self._solves = 0

    def prepare(
        self,
        d: int,
        a: tuple[int, int],
        b: tuple[int, int] | None = None,
        *,
        drift: float = math.inf,
        frac: int | None = None,
    ) -> Prepared:
        """The public schedule of the next solve (``b`` given) or inverse (``b`` None) of a
        d x d system whose entries have ``a`` = (bits, scale), with a right-hand side of ``b`` =
        (bits, scale); ``drift`` and ``frac`` as for :meth:`solve` and :meth:`inverse`.
        :meth:`deal` draws its masks, which lets a caller deal them in the round that pools
        A and b (:meth:`~mpcstats.protocols.Session.together`) instead of one of their own."""
        a_bits, a_frac = a
        inverse_frac = self.work + max(a_bits - a_frac, 0)  # see inverse()
        if b is None and frac is not None:
            inverse_frac = frac
        cold = _scalings(1 / (8 * d * self.condition), 1.0)
        warm = self._warm_plan(drift, len(cold))
        if warm is None:
            scalings, upper, lower, high = cold, 1.0, 1 / (4 * self.condition), 1.0
            outer_bits = 2 * _jacobi_factor_bits(a_bits, a_frac, self.work)
        else:
            (scalings, upper, lower, high), last = warm, self._last
            assert last is not None
            outer_bits = last.outer.bits
        work = self.work
        # |X_ij| <= ||X|| <~ 1 / lower and |(A'Y)_ij| <= ||A'|| ||Y|| < 2 d upper / lower
        bound = work + math.ceil(math.log2(2 * d * upper / lower)) + 1
        scaled_bits = work + 1 + max(math.ceil(math.log2(upper)), 0)  # entries below upper
        widest = max(scaled_bits, bound + 1) + bound + _SCALE_BITS + 1 + d.bit_length()
        inverse_shift = 3 * work - inverse_frac  # X (work) times S S' (2 work)
        coupled, classic = _split(scalings)
        batches = [(d * d, a_bits + outer_bits, a_frac + work)]
        if coupled:
            batches += [
                (d * d, scaled_bits + bound + d.bit_length(), work),  # M0 = A' X0
                (2 * len(coupled) * d * d, _coupled_bits(bound, work, d), work + 2 * _SCALE_BITS),
            ]
        batches += [
            (2 * len(classic) * d * d, widest, work + _SCALE_BITS),
            (d * d, bound + outer_bits, inverse_shift),
        ]
        solution_frac = None
        if b is not None:
            b_bits, b_frac = b
            solution_frac = b_frac if frac is None else frac
            inverse_bits = bound + outer_bits - inverse_shift + 1
            batches.append(
                (d, inverse_bits + b_bits + d.bit_length(), inverse_frac + b_frac - solution_frac)
            )
        # M = A'X has its spectrum in (0, high] throughout (each step maps it into (0, 1])
        m_bits = work + 2 + max(math.ceil(math.log2(high)), 0)
        return Prepared(
            (d, a, b), self._solves, warm is not None, coupled, classic, upper, lower, bound,
            scaled_bits, m_bits, inverse_frac, solution_frac, batches,
        )  # fmt: skip

    async def deal(self, prepared: Prepared) -> list[Masks]:
        """The masks of a prepared solve's products, in one round."""
        return await mask_pools(self.session, prepared.batches)

    async def solve(
        self,
        a: Shared,
        b: Shared,
        *,
        drift: float = math.inf,
        frac: int | None = None,
        ahead: tuple[Prepared, list[Masks]] | None = None,
    ) -> Shared:
        """x with A x = b, at b's scale unless ``frac`` is given; ``ahead``: its schedule and
        masks, prepared and dealt already (:meth:`prepare`)."""
        d = a.shape[0]
        if b.shape != (d,):
            raise ConfigurationError(f"solve_spd needs a vector of length {d}, got {b.shape}")
        if ahead is None:
            prepared = self.prepare(d, _format(a), _format(b), drift=drift, frac=frac)
            ahead = prepared, await self.deal(prepared)
        _, solution = await self._run(a, b, *ahead)
        assert solution is not None
        return solution

    async def inverse(
        self,
        a: Shared,
        *,
        drift: float = math.inf,
        frac: int | None = None,
        ahead: tuple[Prepared, list[Masks]] | None = None,
    ) -> Shared:
        """A^-1. The default scale, ``work`` plus the bits of A's largest entry, keeps ``work``
        significant bits even in entries as small as 1 / max|A_ij|. ``ahead`` as for
        :meth:`solve`."""
        if ahead is None:
            prepared = self.prepare(a.shape[0], _format(a), drift=drift, frac=frac)
            ahead = prepared, await self.deal(prepared)
        inverse, _ = await self._run(a, None, *ahead)
        return inverse

    async def _run(
        self, a: Shared, b: Shared | None, plan: Prepared, pools: list[Masks]
    ) -> tuple[Shared, Shared | None]:
        """A^-1 and, with b, A^-1 b, on the schedule and masks of ``plan``."""
        session, work, d = self.session, self.work, a.shape[0]
        if a.shape != (d, d):
            raise ConfigurationError(f"an SPD matrix is square, got shape {a.shape}")
        system = (d, _format(a), None if b is None else _format(b))
        if plan.system != system:
            raise ConfigurationError(f"the solve was prepared for {plan.system}, not {system}")
        if plan.after != self._solves:
            raise ConfigurationError("the solve was prepared before another solve ran")
        self._solves += 1
        if plan.warm:
            assert self._last is not None
            outer, x = self._last.outer, self._last.x
            self.warm_starts += 1
        else:
            s = await _jacobi_scaling(session, a, work)
            outer = await mul(session, s.reshape(d, 1), s.reshape(1, d), frac=2 * work)  # exact
            start = (1 << work) >> math.ceil(math.log2(d))  # X0 = I / 2^ceil(log2 d), exactly
            eye = np.eye(d, dtype=np.int64).astype(object) * start
            x = Shared(a.field, a.field.array(eye), work + 1, work)
        masks = iter(pools)  # in the order prepare() listed the batches
        scaled = await mul(session, a, outer, frac=work, pool=next(masks))
        scaled = scaled.with_bits(plan.scaled_bits)
        if plan.coupled:
            x = await self._iterate_coupled(scaled, x, plan, next(masks), next(masks))
        x = await self._iterate(scaled, x, plan.classic, plan.bound, next(masks))
        self._last = _Inverse(x, outer, plan.upper, plan.lower)
        inverse = await mul(session, x, outer, frac=plan.inverse_frac, pool=next(masks))
        self.last_inverse = inverse
        if b is None:
            return inverse, None
        solution = await matmul(
            session, inverse, b.reshape(d, 1), frac=plan.solution_frac, pool=next(masks)
        )
        return inverse, solution.reshape(d)

    def _warm_plan(
        self, drift: float, cold_steps: int
    ) -> tuple[list[int], float, float, float] | None:
        """(scalings, upper, lower, high: the top of the spectrum of A'X0) of a warm start, or
        None when a cold one is better or the bounds on S A S would drift too far (public:
        depends on ``drift`` only)."""
        if self._last is None or not 0 <= drift < _MAX_DRIFT:
            return None
        factor = math.exp(drift)
        upper, lower = self._last.upper * factor, self._last.lower / factor
        if upper > 2.0**_DRIFT_BITS or lower < 2.0**-_DRIFT_BITS / (4 * self.condition):
            return None
        # the previous X's own error, and A's rounding: float64 local sums, relative to its
        # smallest eigenvalue, can reach ~1e-7 at a condition number of 1e7
        slack = 2.0**-20
        high = (1 + slack) * factor
        scalings = _scalings((1 - slack) / factor, high)
        if len(scalings) >= cold_steps + _JACOBI_STEPS:
            return None
        return scalings, upper, lower, high

    async def _iterate_coupled(
        self, scaled: Shared, x: Shared, plan: Prepared, start: Masks, pool: Masks
    ) -> Shared:
        """The same steps on the pair (X, M = A'X): X <- alpha X R and M <- alpha M R with
        R = 2I - alpha M, both products in one round, where the plain step needs two.

        M is not recomputed from A', so the rounding of each step stays in it rather than
        being corrected; the last steps (:func:`_split`) run plain and square that error away.
        """
        session, work, d = self.session, self.work, scaled.shape[0]
        x = x.with_bits(plan.bound)
        m = (await matmul(session, scaled, x, frac=work, pool=start)).with_bits(plan.m_bits)
        wide = work + _SCALE_BITS
        for c in plan.coupled:  # alpha = c / 2^12 < 2 / high: alpha M has its spectrum in (0, 2)
            am = (m * c).with_frac(wide).with_bits(wide + 2)
            ax = (x * c).with_frac(wide)
            r = ((-am) + 2.0 * np.eye(d)).with_bits(wide + 2)  # spectrum in (0, 2)
            x, m = await session.together(
                matmul(session, ax, r, frac=work, pool=pool),
                matmul(session, am, r, frac=work, pool=pool),
            )
            x, m = x.with_bits(plan.bound), m.with_bits(work + 2)  # M now in (0, 1]
        return x

    async def _iterate(
        self, scaled: Shared, x: Shared, scalings: list[int], bound: int, pool: Masks
    ) -> Shared:
        """The scaled Newton-Schulz iteration X <- alpha X (2I - alpha A' X)."""
        session, work, d = self.session, self.work, scaled.shape[0]
        for c in scalings:
            y = (x.with_bits(bound) * c).with_frac(work + _SCALE_BITS)  # alpha X = c X / 2^12
            product = (await matmul(session, scaled, y, frac=work, pool=pool)).with_bits(bound)
            x = await matmul(session, y, (-product) + 2.0 * np.eye(d), frac=work, pool=pool)
        return x.with_bits(bound)


async def _jacobi_scaling(session: Session, a: Shared, work: int) -> Shared:
    """s with s_i^2 A_ii in [1/4, 1), s_i a power of two, at scale ``work``.

    One batch of comparisons of the diagonal against every second power of two, 2^(o + 2j)
    with o = frac mod 2: the bucket [2^(e - 2), 2^e) of A_ii (as an integer) gives
    s = 2^((frac - e) / 2), an integer power as e - frac is even. Half the comparisons of a
    full bit length, and the bound is the same.
    """
    field, d = a.field, a.shape[0]
    diagonal = Shared(field, np.diagonal(a.share).copy(), a.bits, 0)
    tops, factors = _jacobi_buckets(a.bits, a.frac)
    below = await ltz(session, concatenate([diagonal - (1 << e) for e in tops[:-1]]))
    b = below.share.reshape(len(tops) - 1, d)
    buckets = [b[0]] + [field.sub(b[j] if j < len(b) else 1, b[j - 1]) for j in range(1, len(tops))]
    return _exponent_factor(Shared(field, np.stack(buckets), 1, 0), factors, work)


def _format(x: Shared) -> tuple[int, int]:
    return x.bits, x.frac


def _split(scalings: list[int]) -> tuple[list[int], list[int]]:
    """The scalings of the coupled steps and of the plain steps that end a schedule.

    Coupling pays from three steps on. The plain steps square the error the coupled ones
    leave in A'X: each step's rounding (d 2^-w), amplified at most as much as the smallest
    eigenvalue grows (8 d condition: 2^32 for d = 50 at 1e7) over the steps, i.e. about
    2^-13 in the worst case at w = 56; squared twice it is down to the rounding of the working
    precision itself. Measured at condition 1e7: as accurate as the plain steps (tests).
    """
    if len(scalings) < 3:
        return [], scalings
    return scalings[:-_PLAIN_STEPS], scalings[-_PLAIN_STEPS:]


def _coupled_bits(bound: int, work: int, d: int) -> int:
    """Bits of the coupled products alpha X R and alpha M R (entries of R below 2, of alpha M
    below 2, of alpha X below 2^(bound - work + 1), all at scale work + 12)."""
    wide = work + _SCALE_BITS
    return max(bound + _SCALE_BITS + 1, wide + 2) + wide + 2 + d.bit_length()


def _jacobi_buckets(bits: int, frac: int) -> tuple[list[int], list[float]]:
    """The bucket tops e (A_ii >= 1 lies below 2^e for the last) and each bucket's s."""
    tops = list(range(frac % 2, bits + 2, 2))
    return tops, [2.0 ** ((frac - e) / 2) for e in tops]


def _jacobi_factor_bits(bits: int, frac: int, work: int) -> int:
    """The bits of :func:`_jacobi_scaling`'s s, from public values only."""
    _, factors = _jacobi_buckets(bits, frac)
    return _exponent_factor_bits(factors, work)


_JACOBI_STEPS = 7  # a cold start's comparison batch costs about as many rounds as 7 steps
_MAX_DRIFT = 6.0  # e^6 = 403: larger drifts need scalings finer than 2^-12 (alpha < 2 / e^M)
_DRIFT_BITS = 16  # warm starts allowed while the bounds on S A S have moved less than this
_SCALE_BITS = 12  # the Newton-Schulz scalings are multiples of 2^-12
_PLAIN_STEPS = 2  # the steps that end a coupled schedule (see _split)
_END_BITS = 48  # the iteration's own error ends below 2^-48, well under 1e-9 and the rounding


def _scalings(low: float, high: float) -> list[int]:
    """The numerators c of each Newton-Schulz step's scaling alpha = c / 2^12 (public), for a
    start X0 with the spectrum of A'X0 in [low, high], 0 < low <= 1 <= high < 2^11.

    A cold start has low = 1 / (8 d condition) (lambda_min(A') is at least lambda_max /
    condition >= 1 / (4 condition), and X0 >= I / 2d) and high = 1. The step
    X <- alpha X (2I - alpha A'X) with alpha = 2 / (a + b) centres the spectrum [a, b] on 1
    before x -> x (2 - x) maps it into [4ab / (a + b)^2, 1], so a small a grows four-fold per
    step instead of two-fold (the scaled iteration of Pan and Schreiber, 1991); alpha is rounded
    to a multiple of 2^-12 with alpha b < 2. Once alpha rounds to 1 the error 1 - a squares each
    step; the schedule ends when the spectrum is within 2^-48 of 1 (``_END_BITS``). The interval
    is tracked in 256-bit floats, as errors far below double precision decide the last steps.
    """
    one = 1 << _SCALE_BITS
    scalings: list[int] = []
    with gmpy2.context(gmpy2.get_context(), precision=256):
        a, b = gmpy2.mpfr(low), gmpy2.mpfr(high)
        while max(1 - a, b - 1) > gmpy2.mpfr(2) ** -_END_BITS:
            c = min(int(gmpy2.rint(2 / (a + b) * one)), int(gmpy2.ceil(2 * one / b)) - 1)
            lo, hi = a * c / one, b * c / one
            ends = (lo * (2 - lo), hi * (2 - hi))
            a, b = min(ends), (gmpy2.mpfr(1) if lo <= 1 <= hi else max(ends))
            scalings.append(c)
    return scalings
