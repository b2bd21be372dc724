"""What every model shares: the design on the grid, each party's exact sums, the guards.

A design (:mod:`mpcstats.stats.formula`) is put on the schema's grid: each design column and
the response get a step and a bound, so every party's [1, X, y]'[1, X, y] is an exact integer
matrix (a SQL source computes it in the database). The policy's model guards run inside MPC on
the pooled sums; only their verdicts are opened.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from mpcstats import protocols as P
from mpcstats._errors import PolicyError
from mpcstats.protocols.linalg import hadamard_bits
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared
from mpcstats.stats import filters
from mpcstats.stats.analysis import Table
from mpcstats.stats.budget import COUNT_BITS
from mpcstats.stats.formula import Design, design_sql
from mpcstats.stats.local import exact_gram, select
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import at_least_public, pool
from mpcstats.stats.tables import SqlTable

__all__ = ["design_grid", "guard_model", "model_sums", "ols_fraction_bits", "pooled_gram"]


def design_grid(schema: Schema, design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Grid step and largest |value| in steps of every design column and the response
    (indicators and the intercept have step 1 and bound 1)."""
    steps, bounds, _ = design.column_grid()
    response = schema[design.response]
    return np.array([*steps, response.precision]), np.array([*bounds, 1 << response.grid_bits])


def model_sums(
    frame: Table, schema: Schema, where: str | None, design: Design, steps: np.ndarray
) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], list[float]]]:
    """[1, Z]'[1, Z] for the grid values Z = [X, y] of the party's complete rows, exactly, the
    number of rows on which each design column is not zero (for :func:`guard_model`), and the
    residual sums for given coefficients (for HC1): [e'e, e^2-weighted Z'Z].
    A SQL source computes them in the database; no row leaves it."""
    if isinstance(frame, SqlTable):
        condition = filters.parse(where, schema)
        expressions, parameters = design_sql(design, frame.identifier)
        query = (condition, design.columns)
        design_columns = range(1, len(expressions))  # in [1, X, y]: X
        full, nonzero = frame.sums_of_products(
            *query, ["1", *expressions], [1.0, *steps], parameters, design_columns
        )

        def in_database(coefficients: np.ndarray) -> list[float]:
            return frame.residual_sums(
                *query, expressions, list(steps), parameters, list(coefficients)
            )

        return full, nonzero, in_database
    rows, _ = select(frame, schema, where, design.columns)
    x, y = design.matrix(rows)
    ones_z = np.empty((len(rows), x.shape[1] + 2))  # [1, X, y] on the grid, in one buffer
    ones_z[:, 0] = 1.0
    np.divide(x, steps[:-1], out=ones_z[:, 1:-1])
    np.divide(y, steps[-1], out=ones_z[:, -1])
    np.rint(ones_z, out=ones_z)  # integers, exact in float64
    z = ones_z[:, 1:]
    d = z.shape[1] - 1

    def in_memory(coefficients: np.ndarray) -> list[float]:
        residuals = z[:, d] - z[:, :d] @ coefficients
        weighted = z[:, :d] * residuals[:, None]
        return [float(residuals @ residuals), *(weighted.T @ weighted).ravel()]

    return exact_gram(ones_z), np.count_nonzero(z[:, :d], axis=0), in_memory


async def pooled_gram(
    session: Session,
    policy: Policy,
    sums: tuple[np.ndarray, np.ndarray],
    gram_bits: int,
    design: Design,
    iterates: bool = False,
) -> tuple[Shared, Shared, Shared]:
    """n, sum y and the Gram matrix of [X, y] from the parties' [1, X, y]'[1, X, y] and
    non-zero counts (``sums``), pooled and checked by the model guards; with ``iterates``
    (coefficients will be opened to the parties) also by the data parties guard."""
    full, nonzero = sums
    d = len(design.names)
    holder = [int(full[0, 0] >= policy.k)] if iterates else []
    local = np.concatenate([np.ravel(full), nonzero, holder]).astype(object)
    pooled = await pool(session, local, gram_bits)
    size = (d + 2) ** 2
    full_pooled = pooled[:size].reshape(d + 2, d + 2)
    n, sy, gram = (
        full_pooled[0, 0].with_bits(COUNT_BITS),
        full_pooled[0, d + 1],
        full_pooled[1:, 1:],
    )
    counts = pooled[size : size + d].with_bits(COUNT_BITS)
    holders = pooled[size + d :].with_bits(COUNT_BITS) if iterates else None
    await guard_model(session, policy, n, counts, design, holders)
    return n, sy, gram


async def guard_model(
    session: Session,
    policy: Policy,
    n: Shared,
    nonzero: Shared,
    design: Design,
    holders: Shared | None = None,
) -> None:
    """The policy's model guards, side by side; only their verdicts are opened.

    Size: n >= max(k, d / max_parameter_fraction). Columns: every design column as coded (an
    indicator, a product, an interaction; not the intercept) is non-zero on at least k
    records, and one whose term has an indicator factor (a level, a bool) is zero on none or
    at least k: a coefficient of a column that singles out fewer than k records describes
    those records (DataSHIELD's rule for the levels of a factor, applied to every column).
    ``nonzero`` holds the pooled number of records on which each design column is not zero.
    Data parties (``holders``, the number of parties
    with at least k records in the cohort, for the fits that open coefficients to the
    parties): at least t + 2, so that any t parties together still leave two parties'
    records pooled in what they see."""
    k, fraction, d = policy.k, policy.max_parameter_fraction, len(design.names)
    smallest = max(k, math.ceil(d / fraction))
    columns = list(range(1 if design.intercept else 0, d))
    coded = [j for j, flag in enumerate(design.level_coded()) if flag]
    guards = [at_least_public(session, n.reshape(1), smallest, "model size guard")]
    if columns:
        counted = P.concatenate([nonzero[j].reshape(1) for j in columns])
        guards.append(at_least_public(session, counted, k, "rare column guard"))
    if coded:
        ones = P.concatenate([nonzero[j].reshape(1) for j in coded])
        zeros = P.concatenate([n.reshape(1)] * len(coded)) - ones
        guards.append(at_least_public(session, zeros, k, "rare zero guard", zero_ok=True))
    if holders is not None:
        guards.append(at_least_public(session, holders, session.t + 2, "data parties guard"))
    large, *verdicts = await session.together(*guards)
    if not large[0]:
        raise PolicyError(
            f"the model has {d} parameters: the policy needs n >= {smallest} "
            f"(k = {k}, at most {fraction:g} parameters per record)"
        )
    if holders is not None and not verdicts.pop()[0]:
        raise PolicyError(
            "this fit opens every iterate of its coefficients to the parties, which the "
            f"policy allows only when at least t + 2 = {session.t + 2} parties hold at least "
            f"k = {k} records of the cohort each (fewer do): with two hospitals and a helper, "
            "an iterate would give each hospital the other's aggregate; use ols with "
            "cov_type='nonrobust', which opens nothing to the parties"
        )
    if columns:
        rare = [design.names[j] for j, ok in zip(columns, verdicts[0], strict=True) if not ok]
        if rare:
            raise PolicyError(
                f"design column(s) {rare} are non-zero on fewer than k = {k} records, which "
                "the policy refuses in a model (their coefficients would describe those "
                "records); merge rare levels or drop the term"
            )
    if coded:
        rare = [design.names[j] for j, ok in zip(coded, verdicts[-1], strict=True) if not ok]
        if rare:
            raise PolicyError(
                f"design column(s) {rare} are zero on 1 to {k - 1} records (fewer than k = "
                f"{k}), which the policy refuses in a model (their coefficients would "
                "describe those records); merge rare levels or drop the term"
            )


def ols_fraction_bits(bounds: list[float]) -> tuple[int, int]:
    """Bits of the numerator and denominator bounds of (X'X)^-1, the coefficients and the
    residual sum of squares as fractions, from the grid bounds of [X, y]'s columns.

    All three have det(X'X) as a denominator, and as numerators cofactors of X'X, Cramer's
    determinants with X'y for a column, and det([X y]'[X y]) (the residual sum of squares is
    det(G) / det(X'X) for the Gram matrix G of [X, y]). An entry of G is at most
    n * B_i * B_j, so column j has norm at most n * B_j * ||B||, and Hadamard's inequality
    bounds each determinant."""
    n = 2.0**COUNT_BITS
    design = bounds[:-1]
    design_norm, full_norm = math.hypot(*design), math.hypot(*bounds)
    denominator = hadamard_bits([n * b * design_norm for b in design])
    numerator = hadamard_bits([n * b * full_norm for b in bounds])
    return numerator, denominator
