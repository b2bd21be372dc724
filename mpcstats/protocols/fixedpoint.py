"""Fixed-point arithmetic: truncation, products, reciprocal, division, sqrt, exp and log.

A fixed-point value is a :class:`Shared` integer v with scale ``frac``: it encodes v / 2^frac.

- :func:`truncate` divides by 2^m: exactly (a comparison's cost) or probabilistically (one mask
  round and one opening; the result is off by at most ceil((t+1)/2) units in the last place).
- :func:`mul` multiplies and truncates in one opening: the degree-2t product plus a degree-2t
  mask is opened directly, so no separate degree reduction is needed.
- :func:`reciprocal`, :func:`sqrt` and :func:`log` normalise x to [1/2, 1) with one batch of
  comparisons against the powers of two (revealing nothing), then run Newton iterations or a
  polynomial; :func:`exp` splits x log2(e) into integer and fractional parts.

Leakage: only masked values (statistically hidden to within 2^-kappa) are opened.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mpcstats._errors import ConfigurationError
from mpcstats.protocols.arithmetic import mul as plain_mul
from mpcstats.protocols.arithmetic import reduce_degree
from mpcstats.protocols.comparison import ltz, shift_right
from mpcstats.protocols.masks import Masks, masks, product_masks
from mpcstats.protocols.opening import open_elements
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared, concatenate

__all__ = [
    "div",
    "exp",
    "log",
    "mask_pool",
    "mask_pools",
    "matmul",
    "mul",
    "reciprocal",
    "rescale",
    "sqrt",
    "truncate",
]


def _centre(session: Session) -> int:
    """Subtracted from probabilistic truncations so their error is centred on zero."""
    return (session.t + 2) // 2


async def _open_shift(
    session: Session, x_share: np.ndarray, k: int, m: int, mask: Masks, degree: int
) -> np.ndarray:
    """Open x + 2^k + r (r from ``mask``) and return shares of ~floor(x / 2^m)."""
    field = session.field
    if degree > session.t:
        assert mask.full_2t is not None, "masks for a fused product"
        full = mask.full_2t
    else:
        assert mask.low is not None, "masks for a truncation"
        full = field.add(mask.low, field.mul(mask.high, 1 << m))
    masked = field.add(field.add(np.ravel(x_share), full), 1 << k)
    c = await open_elements(
        session, field, masked, degree=degree, label="masked value (truncation)"
    )
    assert c is not None
    high = field.array(np.asarray(c >> m, dtype=object) - _centre(session) - (1 << (k - m)))
    return field.sub(high, mask.high).reshape(np.shape(x_share))


async def truncate(session: Session, x: Shared, m: int, *, exact: bool = False) -> Shared:
    """x / 2^m with the scale reduced by m (floor if ``exact``, else within ceil((t+1)/2) ulp)."""
    if m == 0:
        return x
    if m > x.frac:
        raise ConfigurationError(f"cannot drop {m} fractional bits from a value that has {x.frac}")
    if exact:
        floor = await shift_right(session, x.with_frac(0), m)
        return floor.with_frac(x.frac - m)
    k = x.bits
    session.field.require(k + 2, session.kappa, len(session.contributors), "a truncation")
    mask = await masks(session, x.size, m, k + 1 - m + session.kappa, with_bits=False)
    share = await _open_shift(session, x.share, k, m, mask, session.t)
    return Shared(x.field, share, k - m + 1, x.frac - m)


async def mul(
    session: Session, a: Shared, b: Shared, *, frac: int | None = None, pool: Masks | None = None
) -> Shared:
    """Fixed-point product at scale ``frac`` (default: the larger input scale), the truncation
    fused into one opening: two rounds (masks, opening), or one with masks from a ``pool``."""
    return await _product(session, a, b, a.field.mul(a.share, b.share), a.bits + b.bits, frac, pool)


async def matmul(
    session: Session, a: Shared, b: Shared, *, frac: int | None = None, pool: Masks | None = None
) -> Shared:
    """Fixed-point matrix (or inner) product, truncated in the same opening."""
    bits = a.bits + b.bits + max(a.shape[-1], 1).bit_length()
    return await _product(session, a, b, a.field.dot(a.share, b.share), bits, frac, pool)


async def mask_pool(session: Session, count: int, k: int, m: int) -> Masks:
    """Masks for ``count`` fused products of k-bit values truncated by m, in one round."""
    (pool,) = await mask_pools(session, [(count, k, m)])
    return pool


async def mask_pools(session: Session, batches: Sequence[tuple[int, int, int]]) -> list[Masks]:
    """A pool per batch (count, k, m) of fused products, all dealt in one round."""
    field, kappa, contributors = session.field, session.kappa, len(session.contributors)
    for _, k, _ in batches:
        field.require(k + 2, kappa, contributors, "a fixed-point product")
    return await product_masks(session, [(count, m, k + 1 - m + kappa) for count, k, m in batches])


async def _product(
    session: Session,
    a: Shared,
    b: Shared,
    product: np.ndarray,
    k: int,
    frac: int | None,
    pool: Masks | None,
) -> Shared:
    target = max(a.frac, b.frac) if frac is None else frac
    m = a.frac + b.frac - target
    field = session.field
    if m < 0:
        raise ConfigurationError(f"a product of scales {a.frac} + {b.frac} cannot reach {target}")
    if m == 0:
        (share,) = await reduce_degree(session, [(field, product)])
        return Shared(field, share, k, target)
    count = int(np.size(product))
    mask = pool.take(count) if pool is not None else await mask_pool(session, count, k, m)
    share = await _open_shift(session, product, k, m, mask, 2 * session.t)
    return Shared(field, share, k - m + 1, target)


def rescale(x: Shared, frac: int) -> Shared:
    """The same reals at a larger scale (local); lowering a scale is :func:`truncate`."""
    if frac < x.frac:
        raise ConfigurationError("lowering a scale needs truncate()")
    shift = frac - x.frac
    return Shared(x.field, x.field.mul(x.share, 1 << shift), x.bits + shift, frac)


async def _normalise(session: Session, x: Shared) -> tuple[Shared, Shared, Shared]:
    """For integers 0 < x < 2^k: (onehot, bit length L, y) with y = x 2^(k-L) in [2^(k-1), 2^k).

    One batch of k comparisons [x < 2^i]; the one-hot vector of L gives the scale factor by a
    public linear combination.
    """
    k = x.bits
    flat = x.with_frac(0).reshape(-1)
    count = flat.size
    shifted = concatenate([flat - (1 << i) for i in range(k)])
    below = await ltz(session, shifted)  # below[i*count + j] = [x_j < 2^i]
    field = session.field
    b = below.share.reshape(k, count)
    # [L == i] = [x < 2^i] - [x < 2^(i-1)] for i = 1..k, where [x < 2^k] = 1
    onehot = np.stack([field.sub(b[i] if i < k else 1, b[i - 1]) for i in range(1, k + 1)])
    scale = field.lincomb([1 << (k - i) for i in range(1, k + 1)], list(onehot))
    length = field.lincomb(list(range(1, k + 1)), list(onehot))
    factor = Shared(field, scale, k, 0)
    y = (await plain_mul(session, flat, factor)).with_bits(k)
    return (
        Shared(field, onehot, 1, 0),
        Shared(field, length, k.bit_length() + 1, 0),
        y,
    )


def _working(x: Shared) -> int:
    """Working precision: the input's scale plus guard bits, at least 40."""
    return max(x.frac + 8, 40)


async def _to_unit_scale(session: Session, y: Shared, k: int, work: int) -> Shared:
    """Reinterpret y in [2^(k-1), 2^k) as a real in [1/2, 1) at scale ``work``."""
    if k > work:
        return await truncate(session, y.with_frac(k), k - work)
    return rescale(y.with_frac(k), work)


def _exponent_factor(onehot: Shared, coefficients: list[float], frac: int) -> Shared:
    """sum_i [L == i] c_i as a fixed-point value: a public function of the bit length L."""
    field = onehot.field
    ints = [round(c * (1 << frac)) for c in coefficients]
    value = field.lincomb(ints, list(onehot.share))
    return Shared(field, value, _exponent_factor_bits(coefficients, frac), frac)


def _exponent_factor_bits(coefficients: list[float], frac: int) -> int:
    """The bits of :func:`_exponent_factor`'s value (public: the coefficients only)."""
    return max(abs(round(c * (1 << frac))) for c in coefficients).bit_length() + 1


async def reciprocal(session: Session, x: Shared, *, frac: int | None = None) -> Shared:
    """1/x for x > 0 (x <= 0 is the caller's to exclude); relative error about 2^-(frac)."""
    out = x.frac if frac is None else frac
    work, k = _working(x), x.bits
    onehot, _, y = await _normalise(session, x)
    u = await _to_unit_scale(session, y, k, work)  # x = u 2^(L - frac), u in [1/2, 1)
    w = (2.9142 - 2 * u).with_bits(work + 2)  # linear start, error < 0.09
    w = Shared(u.field, w.share, work + 2, work)
    for _ in range(4):  # error 0.086 -> 7e-3 -> 5e-5 -> 3e-9 -> 1e-17
        uw = await mul(session, u, w)
        w = (await mul(session, w, (2.0 - uw).with_bits(work + 2))).with_bits(work + 2)  # w < 2
    factor = _exponent_factor(onehot, [2.0 ** (x.frac - i) for i in range(1, k + 1)], out + 8)
    result = await mul(session, w.reshape(*x.shape), factor.reshape(*x.shape), frac=out + 8)
    lowered = await _lower(session, result, out)
    return lowered.with_bits(x.frac + out + 2)  # x >= 2^-frac, so 1/x <= 2^frac


async def _lower(session: Session, x: Shared, frac: int) -> Shared:
    if x.frac >= frac:
        return await truncate(session, x, x.frac - frac)
    return rescale(x, frac)


async def div(session: Session, a: Shared, b: Shared) -> Shared:
    """a / b for b > 0, at a's scale."""
    # 1/b down to 2^-(b.bits - b.frac): keep b.bits more bits so the quotient keeps a's precision
    inverse = await reciprocal(session, b, frac=a.frac + b.bits)
    quotient = await mul(session, a, inverse, frac=a.frac)
    return quotient.with_bits(a.bits + b.frac + 2)  # |a / b| <= |a| 2^b.frac


async def sqrt(session: Session, x: Shared, *, frac: int | None = None) -> Shared:
    """sqrt(x) for x > 0: Newton's iteration for 1/sqrt(u) on the mantissa u in [1/2, 1), then
    sqrt(x) = u w 2^((L - frac)/2), the last factor a public function of the bit length L."""
    out = x.frac if frac is None else frac
    work, k = _working(x), x.bits
    onehot, _, y = await _normalise(session, x)
    u = await _to_unit_scale(session, y, k, work)
    quarter = u.with_frac(work + 2)  # the same integers read as u/4
    start = (1.75 - 3 * quarter).with_bits(work + 3)
    w = await truncate(session, start, 2)  # 1.75 - 0.75u, within 3% of 1/sqrt(u)
    for _ in range(5):  # w <- w (3 - u w^2) / 2, quadratic from a 4% start
        uw2 = await mul(session, u, await mul(session, w, w))
        half = (3.0 - uw2).with_bits(work + 2).with_frac(work + 1)  # the same integers: halved
        w = (await mul(session, w, half, frac=work)).with_bits(work + 2)  # w < 1.5
    root = (await mul(session, u, w)).with_bits(work + 1)  # sqrt(u) < 1
    factor = _exponent_factor(onehot, [2.0 ** ((i - x.frac) / 2) for i in range(1, k + 1)], out + 8)
    result = await mul(session, root.reshape(*x.shape), factor.reshape(*x.shape), frac=out + 8)
    lowered = await _lower(session, result, out)
    return lowered.with_bits(max(x.bits - x.frac, 0) // 2 + out + 2)


def _chebyshev_monomials(func: object, lo: float, hi: float, degree: int) -> np.ndarray:
    """Monomial coefficients (in u = (2y - lo - hi)/(hi - lo)) of a Chebyshev interpolant."""
    nodes = np.cos(np.pi * (np.arange(degree + 1) + 0.5) / (degree + 1))
    values = func((nodes * (hi - lo) + hi + lo) / 2)  # type: ignore[operator]
    cheb = np.polynomial.chebyshev.chebfit(nodes, values, degree)
    return np.polynomial.chebyshev.cheb2poly(cheb)


async def _powers(session: Session, u: Shared, degree: int) -> list[Shared]:
    """u^1 .. u^degree in ceil(log2 degree) multiplication layers."""
    powers: dict[int, Shared] = {1: u}
    while len(powers) < degree:
        top = max(powers)
        wanted = [e for e in range(top + 1, min(2 * top, degree) + 1)]
        lefts = concatenate([powers[top].reshape(-1)] * len(wanted))
        rights = concatenate([powers[e - top].reshape(-1) for e in wanted])
        products = await mul(session, lefts, rights)
        size = u.size
        for j, e in enumerate(wanted):  # |u| <= 1, so every power keeps u's bound
            powers[e] = products[j * size : (j + 1) * size].reshape(*u.shape).with_bits(u.bits + 1)
    return [powers[e] for e in range(1, degree + 1)]


async def _polynomial(session: Session, u: Shared, coefficients: np.ndarray) -> Shared:
    """sum_j c_j u^j for public real coefficients, |u| <= 1 (one truncation at the end)."""
    work = u.frac
    powers = await _powers(session, u, len(coefficients) - 1)
    field = u.field
    scaled = [round(c * (1 << work)) for c in coefficients]
    total = field.lincomb(scaled[1:], [p.share for p in powers])
    total = field.add(total, scaled[0] << work)
    bits = u.bits + work + int(np.abs(coefficients).sum() + 1).bit_length() + 1
    return await truncate(session, Shared(field, total, bits, 2 * work), work)


async def log(session: Session, x: Shared, *, frac: int | None = None) -> Shared:
    """Natural logarithm of x > 0: ln x = ln(u) + (L - frac) ln 2 with u in [1/2, 1)."""
    out = x.frac if frac is None else frac
    work = _working(x)
    k = x.bits
    _, length, y = await _normalise(session, x)
    u = await _to_unit_scale(session, y, k, work)
    z = (4 * u - 3.0).with_bits(work + 2)  # z = 4u - 3 in [-1, 1)
    z = Shared(z.field, z.share, work + 1, work)
    ln_u = await _polynomial(
        session, z, _chebyshev_monomials(lambda v: np.log((v + 3) / 4), -1, 1, 16)
    )
    ln2 = round(math.log(2) * (1 << work))
    exponent = x.field.sub(length.share.reshape(x.shape), x.frac)
    total = x.field.add(ln_u.share.reshape(x.shape), x.field.mul(exponent, ln2))
    value = Shared(x.field, total, work + k.bit_length() + 2, work)
    return await _lower(session, value, out)


async def exp(session: Session, x: Shared, *, frac: int | None = None, bound: int = 40) -> Shared:
    """e^x for |x| < bound * ln 2 (so e^x < 2^bound): 2^n 2^phi with n = floor(x log2 e)."""
    out = x.frac if frac is None else frac
    work = _working(x)
    field = x.field
    log2e = round(math.log2(math.e) * (1 << work))
    z = await truncate(session, (x * log2e).with_frac(x.frac + work), x.frac)  # x log2(e)
    n = await shift_right(session, z.with_frac(0), work)  # floor(z)
    phi = (z - rescale(n.with_frac(0), work)).with_bits(work + 1)  # in [0, 1)
    u = (2 * phi - 1.0).with_bits(work + 1)  # in [-1, 1)
    two_phi = await _polynomial(
        session, u, _chebyshev_monomials(lambda v: 2 ** ((v + 1) / 2), -1, 1, 14)
    )
    # 2^n for n in [-bound, bound]: one-hot of n from one batch of comparisons n < j
    flat = n.reshape(-1).with_bits(bound.bit_length() + 2)
    js = list(range(-bound, bound + 2))
    below = await ltz(session, concatenate([flat - j for j in js]))
    b = below.share.reshape(len(js), flat.size)
    onehot = [field.sub(b[i + 1], b[i]) for i in range(len(js) - 1)]  # [n == js[i]]
    power = field.lincomb([1 << (j + bound) for j in js[:-1]], onehot)
    powers = Shared(field, power.reshape(x.shape), 2 * bound + 1, bound)
    result = (await plain_mul(session, two_phi, powers)).with_frac(work + bound)
    return await _lower(session, result.with_bits(work + 2 * bound + 2), out)
