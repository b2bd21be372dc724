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
) -> tuple[np.ndarray, Callable[[np.ndarray], list[float]]]:
    """[1, Z]'[1, Z] for the grid values Z = [X, y] of the party's complete rows, exactly,
    and the residual sums for given coefficients (for HC1): [e'e, e^2-weighted Z'Z].
    A SQL source computes both in the database; no row leaves it."""
    if isinstance(frame, SqlTable):
        condition = filters.parse(where, schema)
        expressions, parameters = design_sql(design, frame.identifier)
        query = (condition, design.columns)
        full = frame.sums_of_products(*query, ["1", *expressions], [1.0, *steps], parameters)

        def in_database(coefficients: np.ndarray) -> list[float]:
            return frame.residual_sums(
                *query, expressions, list(steps), parameters, list(coefficients)
            )

        return full, in_database
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

    return exact_gram(ones_z), in_memory


async def pooled_gram(
    session: Session, policy: Policy, full: np.ndarray, gram_bits: int, design: Design
) -> tuple[Shared, Shared, Shared]:
    """n, sum y and the Gram matrix of [X, y] from the parties' [1, X, y]'[1, X, y], pooled
    and checked by the model guards."""
    d = len(design.names)
    pooled = await pool(session, full, gram_bits)
    n, sy, gram = pooled[0, 0].with_bits(COUNT_BITS), pooled[0, d + 1], pooled[1:, 1:]
    await guard_model(session, policy, n, gram, design)
    return n, sy, gram


async def guard_model(
    session: Session, policy: Policy, n: Shared, gram: Shared, design: Design
) -> None:
    """The policy's model guards, side by side; only their verdicts are opened.

    Size: n >= max(k, d / max_parameter_fraction). Levels: every 0/1 covariate has at least
    k records at 0 and at 1 (DataSHIELD's rule: a coefficient of a rare level describes a
    few patients). ``gram`` is the pooled Gram matrix of the grid design, whose diagonal
    counts the ones of a 0/1 column."""
    k, fraction, d = policy.k, policy.max_parameter_fraction, len(design.names)
    smallest = max(k, math.ceil(d / fraction))
    binary = [j for j, flag in enumerate(design.column_grid()[2]) if flag]
    guards = [at_least_public(session, n.reshape(1), smallest, "model size guard")]
    if binary:
        ones = P.concatenate([gram[j, j].reshape(1) for j in binary])
        zeros = P.concatenate([n.reshape(1)] * len(binary)) - ones
        levels = P.concatenate([ones, zeros])
        guards.append(at_least_public(session, levels, k, "binary covariate guard"))
    large, *verdicts = await session.together(*guards)
    if not large[0]:
        raise PolicyError(
            f"the model has {d} parameters: the policy needs n >= {smallest} "
            f"(k = {k}, at most {fraction:g} parameters per record)"
        )
    if verdicts:
        both = verdicts[0][: len(binary)] & verdicts[0][len(binary) :]
        rare = [design.names[j] for j, ok in zip(binary, both, strict=True) if not ok]
        if rare:
            raise PolicyError(
                f"covariate(s) {rare}: a level has fewer than k = {k} records, which the "
                "policy refuses in a model; merge rare levels or drop the covariate"
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
