"""The analysis API of a study: the same methods on the simulator and on a connected federation.

Each method runs one secure program on every party. The program aggregates the party's own rows
(after ``where`` and complete-case selection), pools the aggregates in one round, finishes
securely, and hands the analyst re-randomised output shares. The subclass says how programs reach
the parties (:meth:`Study._execute`).
"""

from __future__ import annotations

import abc
import contextvars
import functools
import itertools
import json
import math
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from mpcstats import protocols as P
from mpcstats._errors import ConfigurationError, MpcStatsError
from mpcstats.core.field import PrimeField
from mpcstats.protocols import fixedpoint as fx
from mpcstats.protocols.arithmetic import reduce_degree
from mpcstats.protocols.linalg import (
    SpdSolver,
    field_inverse,
    hadamard_bits,
    inverse_spd,
    spd_field_bits,
)
from mpcstats.protocols.opening import reconstruct_output
from mpcstats.protocols.session import DEFAULT_KAPPA, Session
from mpcstats.protocols.shared import Shared
from mpcstats.stats import filters
from mpcstats.stats.formula import design_sql
from mpcstats.stats.results import (
    BlandAltmanResult,
    Chi2Result,
    CorrResult,
    CountResult,
    CrosstabResult,
    DescribeResult,
    DiscreteResults,
    HistogramResult,
    MannWhitneyResult,
    MantelHaenszelResult,
    OLSResults,
    QuantileResult,
    TTestResult,
)
from mpcstats.stats.schema import Column, Schema
from mpcstats.stats.secure import (
    at_least_public,
    check_suppressible,
    gate_at_least,
    gate_groups,
    open_gate,
    open_if_at_least,
    pool,
    release,
    release_products,
    suppress,
)
from mpcstats.stats.tables import WEIGHT, SqlTable

__all__ = ["ANALYSES", "PUBLIC", "Call", "Policy", "PolicyError", "Study", "analysis"]

COUNT_BITS = 34  # pooled counts up to 1.7e10 records
_MAX_LEVEL_PAIRS = 1 << 16  # Spearman's pooled level tables, per pair of columns
FRAC = 48  # fractional bits of the secure finishes
_NEWTON_CONDITION = 1e7  # assumed bound on the condition number of a scaled GLM Hessian
# A last Newton step this small leaves the Hessian within a factor e^1e-9 of the one the step
# inverted: its inverse serves as the covariance, to 1e-9 relative, without another solve
_REUSED_HESSIAN_DRIFT = 1e-9

PUBLIC = "public"  # the key of a program's public outputs: values every party already knows

Program = Callable[[Session, "pd.DataFrame | SqlTable | None"], Awaitable[dict[str, Any]]]
_SumsOfProducts = Callable[
    [Session, "pd.DataFrame | SqlTable | None"], Awaitable[tuple[Shared, Shared, Shared]]
]
"""A secure program: runs at every party on its own rows; returns {name: (share, frac)} for
the analyst, and under :data:`PUBLIC` the values the program opened to all parties."""

F = TypeVar("F", bound=Callable[..., Any])

ANALYSES: set[str] = set()
"""Names of the analysis methods a party may be asked to run."""


@dataclass(frozen=True)
class Call:
    """One call of an analysis method: what a connected study sends to every party, which runs
    the same method on its own rows. Arguments are JSON values (strings, numbers, lists)."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        try:
            return json.dumps({"args": list(self.args), "kwargs": self.kwargs}, default=_plain)
        except TypeError as error:
            raise ConfigurationError(
                f"{self.method}: arguments must be JSON values ({error})"
            ) from None

    @classmethod
    def from_json(cls, method: str, text: str) -> Call:
        if method not in ANALYSES:
            raise ConfigurationError(f"{method!r} is not an analysis of mpcstats")
        try:
            body = json.loads(text)
            return cls(method, tuple(body["args"]), dict(body["kwargs"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigurationError(f"{method}: malformed arguments ({error})") from None


_CURRENT_CALL: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "mpcstats_call", default=None
)
# whether the current analysis call has begun running a secure program: until then an error
# such as a TypeError comes from checking its arguments (a string where a number belongs...)
_RUNNING: contextvars.ContextVar[bool] = contextvars.ContextVar("mpcstats_running", default=False)
_ARGUMENT_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError)


def analysis(method: F) -> F:
    """Mark a public analysis method: its call is recorded (see :class:`Call`). An analysis
    that calls others (``median`` calls ``quantiles``) sends each inner call as its own
    request, so one request always replays to exactly one secure program at the parties, and
    an analysis may run several sessions in turn."""
    ANALYSES.add(method.__name__)

    @functools.wraps(method)
    def recorded(self: Study, *args: Any, **kwargs: Any) -> Any:
        token = _CURRENT_CALL.set(Call(method.__name__, args, kwargs))
        running = _RUNNING.set(False)
        try:
            return method(self, *args, **kwargs)
        except _ARGUMENT_ERRORS as error:
            if isinstance(error, MpcStatsError) or _RUNNING.get():
                raise  # raised by a secure program: not a matter of the arguments
            raise ConfigurationError(
                f"{method.__name__}: invalid arguments ({type(error).__name__}: {error})"
            ) from None
        finally:
            _RUNNING.reset(running)
            _CURRENT_CALL.reset(token)

    return recorded  # type: ignore[return-value]


def current_call() -> Call:
    """The analysis call being run (for :meth:`Study._execute` implementations)."""
    call = _CURRENT_CALL.get()
    if call is None:
        raise ConfigurationError("secure programs run from analysis methods only")
    return call


def _bin_edges(spec: Column, bins: int | Sequence[float]) -> np.ndarray:
    """A histogram's public edges: ``bins`` equal bins over the declared range, or the edges
    given, which must be finite and increase."""
    if isinstance(bins, int) and not isinstance(bins, bool):
        if bins < 1:
            raise ConfigurationError(f"histogram: bins is at least 1, not {bins}")
        check_suppressible((bins,))  # before the edges: bins=10**9 would fill the memory
        return np.linspace(spec.lo, spec.hi, bins + 1)
    edges = np.asarray(bins, dtype=np.float64)
    if (
        edges.ndim != 1
        or edges.size < 2
        or not np.isfinite(edges).all()
        or (np.diff(edges) <= 0).any()
    ):
        raise ConfigurationError(
            f"histogram: bins is a number of bins, or two or more finite increasing edges, "
            f"not {bins!r}"
        )
    return edges


def _plain(value: Any) -> Any:
    """numpy scalars, arrays and tuples as JSON values."""
    if isinstance(value, np.ndarray | tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


class PolicyError(ConfigurationError):
    """The study's disclosure policy does not allow this output."""


@dataclass(frozen=True)
class Policy:
    """Disclosure rules: minimum cell size ``k``, and whether extremes may be released."""

    k: int = 5
    allow_extremes: bool = False
    max_parameter_fraction: float = 0.33  # parameters per record, as DataSHIELD's default

    def __post_init__(self) -> None:
        if self.k < 1:
            raise PolicyError("the minimum cell size k is at least 1")
        # checked as a range, which NaN fails too: a request with a fraction of NaN, 0 or
        # below would break or void the model size guard at every party
        if not 0 < self.max_parameter_fraction <= 1:
            raise PolicyError(
                "max_parameter_fraction (parameters per record) lies in (0, 1], not "
                f"{self.max_parameter_fraction!r}"
            )


class Study(abc.ABC):
    """Joint statistics over the union of all parties' records."""

    schema: Schema
    policy: Policy

    @abc.abstractmethod
    def _execute(self, program: Program, modulus_bits: int) -> tuple[list[dict[str, Any]], int]:
        """Run ``program`` on every party, once per analysis call; return each party's outputs
        (by party index) and the degree of the output shares."""

    def _release(self, program: Program, modulus_bits: int = 256) -> dict[str, Any]:
        """Run ``program`` and reconstruct its outputs at the analyst; public outputs pass
        through under their own names."""
        from mpcstats.core.field import PrimeField

        _RUNNING.set(True)
        outputs, degree = self._execute(program, modulus_bits)
        field = PrimeField.with_bits(modulus_bits)
        released: dict[str, Any] = dict(outputs[0].get(PUBLIC, {}))
        for name, output in outputs[0].items():
            if name == PUBLIC:
                continue
            frac = output[1]
            shares = {party: out[name][0] for party, out in enumerate(outputs)}
            released[name] = reconstruct_output(field, shares, degree, frac)
        return released

    # selection --------------------------------------------------------------------------------
    def _rows(
        self,
        frame: pd.DataFrame | SqlTable | None,
        where: str | None,
        needed: Sequence[str],
        collapse: bool = False,
    ) -> tuple[pd.DataFrame, int]:
        """The party's rows passing ``where`` with no missing value in ``needed``, and the
        number of rows the missing values excluded."""
        if frame is None:
            columns = list(self.schema.columns)
            return pd.DataFrame({c: pd.Series(dtype=float) for c in columns}), 0
        condition = filters.parse(where, self.schema)
        if isinstance(frame, SqlTable):  # the database filters and selects
            return frame.select(condition, list(dict.fromkeys(needed)), collapse=collapse)
        selected = frame[condition.mask(frame)] if condition is not None else frame
        if not any(_has_missing(selected[column]) for column in needed):  # usual: no copy
            return selected, 0
        complete = selected.dropna(subset=list(needed))
        return complete, len(selected) - len(complete)

    def _column(self, name: str) -> Column:
        return self.schema[name]

    # counts -----------------------------------------------------------------------------------
    @analysis
    def count(self, where: str | None = None, by: str | None = None) -> CountResult:
        """Number of records, overall or per level of ``by``.

        Leakage: the analyst learns the counts of cells with at least k records and which cells
        were suppressed; parties learn nothing.
        """
        filters.parse(where, self.schema)
        levels = self._column(by).levels if by else ("all",)

        def local(rows: pd.DataFrame) -> np.ndarray:
            if by is None:
                return np.array([_size(rows)])
            return _cell_counts([_codes(rows[by], levels)], [len(levels)], _weights(rows))

        counts, excluded = self._suppressed_counts(local, where, [by] if by else [], (len(levels),))
        series = pd.Series(counts, index=pd.Index(levels, name=by), name="count")
        notes = self._suppression_notes(counts)
        return CountResult(series, self.policy.k, where, notes, excluded)

    @analysis
    def frequencies(self, column: str, where: str | None = None) -> CountResult:
        """Counts of each coded value of a category column (e.g. ICD chapters).

        Leakage: as :meth:`count` with ``by=column``: the counts of cells with at least k
        records, and which cells were suppressed (complementary suppression included)."""
        return self.count(where=where, by=column)

    @analysis
    def histogram(
        self,
        column: str,
        bins: int | Sequence[float] = 10,
        where: str | None = None,
        by: str | None = None,
    ) -> HistogramResult:
        """Counts per bin of public edges (``bins`` edges, or that many bins over the declared
        range); the last bin includes its right edge, as numpy's. With ``by``, one histogram
        per level, suppressed as one table (levels x bins). Leakage: as :meth:`count`."""
        spec = self._column(column)
        edges = _bin_edges(spec, bins)
        levels = self._column(by).levels if by else None

        def counts_of(values: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
            return np.histogram(values, edges, weights=weights)[0].astype(np.int64)

        def local(rows: pd.DataFrame) -> np.ndarray:
            values, weights = rows[column].to_numpy(dtype=np.float64), _weights(rows)
            if by is None or levels is None:
                return counts_of(values, weights)
            codes = _codes(rows[by], levels)
            return np.stack(
                [
                    counts_of(values[codes == g], None if weights is None else weights[codes == g])
                    for g in range(len(levels))
                ]
            )

        shape = (len(edges) - 1,) if levels is None else (len(levels), len(edges) - 1)
        needed = [column] + ([by] if by else [])
        counts, excluded = self._suppressed_counts(local, where, needed, shape)
        notes = self._suppression_notes(counts)
        return HistogramResult(
            counts, edges, column, self.policy.k, notes, excluded, by, levels or ()
        )

    @analysis
    def crosstab(
        self, row: str, col: str, layer: str | None = None, where: str | None = None
    ) -> CrosstabResult:
        """A 2-way table of counts (3-way with ``layer``: one 2-way table per layer level).

        Suppression is complementary along every line of the table: each row and column of
        each layer, and each cell's line across the layers (docs/statistics.md, rule 2).
        Leakage: as :meth:`count`.
        """
        rows_levels, col_levels = self._column(row).levels, self._column(col).levels
        layer_levels = self._column(layer).levels if layer else (None,)

        def local(rows: pd.DataFrame) -> np.ndarray:
            codes = [_codes(rows[row], rows_levels), _codes(rows[col], col_levels)]
            sizes = [len(rows_levels), len(col_levels)]
            if layer is not None:
                codes.insert(0, _codes(rows[layer], layer_levels))
                sizes.insert(0, len(layer_levels))
            counts = _cell_counts(codes, sizes, _weights(rows))
            return counts.reshape(len(layer_levels), *sizes[-2:])

        needed = [row, col] + ([layer] if layer else [])
        shape = (len(layer_levels), len(rows_levels), len(col_levels))
        counts, excluded = self._suppressed_counts(local, where, needed, shape)
        frames = [
            pd.DataFrame(
                counts[i],
                index=pd.Index(rows_levels, name=row),
                columns=pd.Index(col_levels, name=col),
            )
            for i in range(len(layer_levels))
        ]
        table = frames[0] if layer is None else pd.concat(frames, keys=layer_levels, names=[layer])
        return CrosstabResult(table, self.policy.k, self._suppression_notes(counts), excluded)

    def _suppressed_counts(
        self,
        local: Callable[[pd.DataFrame], np.ndarray],
        where: str | None,
        needed: list[str],
        shape: tuple[int, ...],
    ) -> tuple[np.ndarray, float]:
        """Pool local count tables of the public ``shape`` and apply disclosure control;
        suppressed cells are NaN. Also the pooled number of records that a missing value in
        ``needed`` excluded."""
        k = self.policy.k
        single = math.prod(shape) == 1  # no complement to find: a product gate, no comparison
        check_suppressible(shape)

        async def program(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> dict[str, Any]:
            rows, excluded = self._rows(frame, where, needed, collapse=True)
            table = np.asarray(local(rows), dtype=np.int64)
            pooled = await pool(session, np.append(table.ravel(), excluded), COUNT_BITS)
            total, missing = pooled[:-1].reshape(*table.shape), pooled[-1:]
            outputs = {"excluded": (release(session, missing), 0)}
            if single:
                cell = total.reshape(1)
                return outputs | await gate_at_least(session, cell, [cell], k)
            flags = await suppress(session, total, k)
            kept = total - (await P.mul(session, flags, total)).with_bits(total.bits)
            return outputs | {
                "counts": (release(session, kept), 0),
                "flags": (release(session, flags), 0),
            }

        out = self._release(program, _COUNT_MODULUS)
        excluded = float(out["excluded"][0])
        if single:
            passed, (kept,) = open_gate(PrimeField.with_bits(_COUNT_MODULUS), out, 1)
            return np.where(passed, kept.astype(np.float64), np.nan).reshape(shape), excluded
        counts = out["counts"].astype(np.float64)
        counts[out["flags"].astype(np.int64) == 1] = np.nan
        return counts, excluded

    def _suppression_notes(self, counts: np.ndarray) -> list[str]:
        hidden = int(np.isnan(counts).sum())
        if not hidden:
            return []
        return [
            f"{hidden} cell(s) suppressed: fewer than k = {self.policy.k} records, or suppressed "
            "as a complement so that a small cell cannot be recovered from its row or column."
        ]

    # describe ---------------------------------------------------------------------------------
    @analysis
    def describe(
        self, column: str, where: str | None = None, by: str | None = None, quartiles: bool = False
    ) -> DescribeResult:
        """n, mean, variance (n - 1 denominator, as pandas) and standard deviation, and with
        ``quartiles`` the 25 %, 50 % and 75 % quantiles (as pandas' describe), each released
        under :meth:`quantiles`' rule (k records on either side), from sessions of their own.

        Leakage: the analyst learns these for groups with at least k records (and which groups
        were suppressed: with ``by``, when one group is below k the smallest other is withheld
        too, so totals cannot be differenced); parties learn nothing. The analyst receives
        each released group's exact n, sum and sum of squares on the grid, which determine n,
        mean and variance and are determined by them, and divides in exact arithmetic.
        Complete cases only: the number of records excluded for a missing value is part of the
        result.
        """
        spec = self._column(column)
        if spec.kind == "category":
            raise ConfigurationError(f"column {column!r} is a category: use frequencies()")

        def raw(rows: pd.DataFrame) -> np.ndarray:
            return rows[column].to_numpy(dtype=np.float64)

        frame, excluded, notes = self._group_moments(
            raw, spec.grid_bits, spec.precision, [column], where, by, on_grid=False
        )
        if quartiles:
            found = self.quantiles(column, [0.25, 0.5, 0.75], where, by)
            table = found.values if by else found.values.to_frame().T.set_axis(frame.index)
            for q, name in zip(table.columns, ("25%", "50%", "75%"), strict=True):
                frame[name] = table[q].reindex(frame.index).to_numpy()
            notes += [note for note in found.notes if note not in notes]
        return DescribeResult(frame, column, excluded, notes)

    def _group_moments(
        self,
        values: Callable[[pd.DataFrame], np.ndarray],
        grid_bits: int,
        precision: float,
        needed: list[str],
        where: str | None,
        by: str | None,
        on_grid: bool = True,
    ) -> tuple[pd.DataFrame, float, list[str]]:
        """n, mean, var and std per group of integer grid ``values`` of each party's rows,
        released only for groups of at least k records (see :meth:`describe`). Without
        ``on_grid``, ``values`` are raw and are put on the grid of step ``precision`` here."""
        levels = self._column(by).levels if by else (None,)
        k = self.policy.k
        value_bits = grid_bits + COUNT_BITS
        modulus = _round_up(2 * value_bits + 64)

        step = None if on_grid else precision

        def local(rows: pd.DataFrame, excluded: int) -> np.ndarray:
            grid, weights = values(rows), _weights(rows)
            if by is None:
                moments = [_moments(grid, weights, grid_bits, step)]
            else:
                codes = _codes(rows[by], levels)
                moments = [
                    _moments(
                        grid[codes == g],
                        None if weights is None else weights[codes == g],
                        grid_bits,
                        step,
                    )
                    for g in range(len(levels))
                ]
            return np.array([*(m for group in moments for m in group), excluded], dtype=object)

        async def program(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> dict[str, Any]:
            rows, excluded = self._rows(frame, where, needed + ([by] if by else []), collapse=True)
            pooled = await pool(session, local(rows, excluded), 2 * value_bits)
            stats = pooled[:-1].reshape(len(levels), 3)
            n, s, q = (stats[:, i] for i in range(3))
            gate = gate_at_least if by is None else gate_groups
            outputs = await gate(session, n.with_bits(COUNT_BITS), [n, s, q], k)
            outputs["excluded"] = (release(session, pooled[-1:]), 0)
            return outputs

        out = self._release(program, modulus)
        passed, (n, s, q) = open_gate(PrimeField.with_bits(modulus), out, 3)
        moments = np.array([_finish_moments(*group) for group in zip(n, s, q, strict=True)])
        moments *= [1.0, precision, precision**2, precision]  # n, mean, var, std
        moments[~passed] = np.nan
        frame = pd.DataFrame(
            moments,
            columns=["n", "mean", "var", "std"],
            index=pd.Index(["all"] if by is None else list(levels), name=by),
        )
        notes = []
        if not passed.all():
            notes.append(f"groups with fewer than k = {k} records are suppressed (NaN).")
        notes.append(
            f"values are computed exactly on the declared precision grid ({precision:g}) and "
            "rounded once, to float64, at the analyst."
        )
        return frame, float(out["excluded"].sum()), notes

    def _differences(
        self, a: str, b: str
    ) -> tuple[Callable[[pd.DataFrame], np.ndarray], int, float]:
        """Grid values of a - b (both columns on one precision grid), their bits and step."""
        first, second = self._column(a), self._column(b)
        if first.precision != second.precision or "category" in {first.kind, second.kind}:
            raise ConfigurationError(
                f"{a!r} and {b!r} must be numeric columns with the same precision to be paired"
            )

        def grid(rows: pd.DataFrame) -> np.ndarray:
            return first.grid(rows[a].to_numpy(float)) - second.grid(rows[b].to_numpy(float))

        return grid, max(first.grid_bits, second.grid_bits) + 1, first.precision

    # tests -------------------------------------------------------------------------------------
    @analysis
    def ttest(
        self,
        column: str,
        other: str | None = None,
        *,
        by: str | None = None,
        equal_var: bool = False,
        where: str | None = None,
    ) -> TTestResult:
        """Two-sample t test of ``column`` between the two levels of ``by`` (Welch, or Student
        with ``equal_var=True``), or paired t test of ``column - other``.

        Leakage: the analyst learns the statistic and p-value, and the n, mean and variance of
        each group (or of the differences), from which they are computed; parties learn
        nothing.
        """
        from scipy import stats

        if other is not None:
            grid, bits, step = self._differences(column, other)
            frame, _, notes = self._group_moments(grid, bits, step, [column, other], where, None)
            n, mean, std = frame.iloc[0][["n", "mean", "std"]]
            statistic = mean / (std / math.sqrt(n))
            pvalue = 2 * stats.t.sf(abs(statistic), n - 1)
            return TTestResult(float(statistic), float(pvalue), float(n - 1), "paired", notes)
        if by is None:
            raise ConfigurationError("ttest needs by= (two groups) or a second column (paired)")
        levels = self._column(by).levels
        if len(levels) != 2:
            raise ConfigurationError(f"ttest compares two groups; {by!r} has {len(levels)} levels")
        frame = self.describe(column, where=where, by=by).frame
        (n1, m1, s1), (n2, m2, s2) = (frame.loc[lv, ["n", "mean", "std"]] for lv in levels)
        test = stats.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=equal_var)
        if equal_var:
            kind, df = "Student", n1 + n2 - 2
        else:  # Welch-Satterthwaite
            a, b = s1**2 / n1, s2**2 / n2
            kind, df = "Welch", (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
        return TTestResult(float(test.statistic), float(test.pvalue), float(df), kind, [])

    @analysis
    def chi2(
        self, row: str, col: str, where: str | None = None, correction: bool = True
    ) -> Chi2Result:
        """Pearson's chi-square test of independence, computed inside MPC from the pooled
        table: chi2 = n sum O^2 / (R C) - n. As scipy's ``chi2_contingency``, a 2 x 2 table
        gets Yates' continuity correction unless ``correction=False``:
        chi2 = n max(|ad - bc| - n/2, 0)^2 / (R1 R2 C1 C2).

        Leakage: the analyst learns the statistic, the degrees of freedom, n, and how many
        cells have an expected count below 5 (for the usual warning); not the table.
        """
        from scipy import stats

        rows_levels, col_levels = self._column(row).levels, self._column(col).levels
        shape = (len(rows_levels), len(col_levels))
        yates = correction and shape == (2, 2)
        modulus = _round_up(8 * COUNT_BITS + 4 * FRAC + 200)

        def local(rows: pd.DataFrame) -> np.ndarray:
            return _cell_counts(
                [_codes(rows[row], rows_levels), _codes(rows[col], col_levels)],
                list(shape),
                _weights(rows),
            )

        async def program(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> dict[str, Any]:
            rows, _ = self._rows(frame, where, [row, col], collapse=True)
            observed = (await pool(session, local(rows), COUNT_BITS)).with_bits(COUNT_BITS)
            row_sums = observed.sum(axis=1).with_bits(COUNT_BITS)
            col_sums = observed.sum(axis=0).with_bits(COUNT_BITS)
            n = row_sums.sum().with_bits(COUNT_BITS)
            margins = P.concatenate([row_sums, col_sums])
            empty = (await P.is_zero(session, margins)).sum().reshape(1)
            if (await at_least_public(session, empty, 1, "an empty margin"))[0]:
                raise ConfigurationError(
                    f"chi2({row!r}, {col!r}): a row or column of the table is empty"
                )
            expected_times_n = await P.mul(
                session, row_sums.reshape(-1, 1), col_sums.reshape(1, -1)
            )
            small = await P.lt(
                session, expected_times_n.reshape(-1), n * 0 + 0 + (5 * n).reshape(1)
            )
            if yates:
                statistic = await _yates_statistic(session, observed, row_sums, col_sums, n)
            else:
                squares = await P.mul(session, observed, observed)
                ratios = await fx.div(
                    session,
                    fx.rescale(squares.reshape(-1), FRAC),
                    fx.rescale(expected_times_n.reshape(-1), FRAC),
                )
                total = await fx.mul(session, ratios.sum(), fx.rescale(n, FRAC))
                statistic = total - fx.rescale(n, FRAC)
            return {
                "statistic": (release(session, statistic), FRAC),
                "n": (release(session, n), 0),
                "small": (release(session, small.sum()), 0),
            }

        out = self._release(program, modulus)
        df = (shape[0] - 1) * (shape[1] - 1)
        statistic = max(float(out["statistic"]), 0.0)  # fixed-point rounding near zero
        small = int(out["small"])
        notes = (
            [
                f"{small} of {shape[0] * shape[1]} cells have an expected count below 5: "
                "the chi-square approximation may be poor."
            ]
            if small
            else []
        )
        if small:
            warnings.warn(notes[0], RuntimeWarning, stacklevel=2)
        if yates:
            notes.append("Yates' continuity correction applied (a 2 x 2 table).")
        return Chi2Result(
            statistic, float(stats.chi2.sf(statistic, df)), df, float(out["n"]), notes
        )

    @analysis
    def corr(
        self, columns: Sequence[str], where: str | None = None, method: str = "pearson"
    ) -> CorrResult:
        """Pearson or Spearman correlations of numeric columns (complete cases on all of them),
        computed inside MPC: r = C_ij / sqrt(C_ii C_jj), C = n S - s s', from exact pooled
        sums s and sums of products S of the values (Pearson) or of their ranks (Spearman).

        Spearman ranks the pooled records on the declared precision grid, ties at their mean
        rank as scipy's ``spearmanr``. Each party counts its records per grid level and per
        pair of levels; the pooled counts give the doubled mid-ranks 2R = 2 cumsum(h) - h + 1
        by local arithmetic, and S_ij = (2R_i)' N_ij (2R_j) takes two rounds of secure
        products. The level tables are pooled whole, so this suits ordinal scores and coarse
        grids: at most 2^16 level pairs per pair of columns (e.g. age in years by a 500-level
        score).

        Leakage: the analyst learns the correlation matrix and n; parties learn nothing.
        """
        if method not in {"pearson", "spearman"}:
            raise ConfigurationError(f"method is 'pearson' or 'spearman', not {method!r}")
        specs = [self._column(c) for c in columns]
        if any(spec.kind == "category" for spec in specs) or len(specs) < 2:
            raise ConfigurationError("corr needs at least two numeric columns")
        if method == "spearman":
            gram_bits, sums_of_products = self._rank_sums(columns, where)
        else:
            top = max(spec.grid_bits for spec in specs)
            gram_bits = 2 * top + COUNT_BITS + 1
            sums_of_products = self._value_sums(columns, where, gram_bits)
        modulus = _round_up(4 * (gram_bits + COUNT_BITS) + 4 * FRAC + 200)

        async def program(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> dict[str, Any]:
            n, sums, cross = await sums_of_products(session, frame)
            centred = (await P.mul(session, n, cross)) - (
                await P.mul(session, sums.reshape(-1, 1), sums.reshape(1, -1))
            )
            diagonal = Shared(centred.field, np.diagonal(centred.share).copy(), centred.bits, 0)
            roots = await fx.sqrt(session, fx.rescale(diagonal, FRAC))
            scale = await fx.mul(session, roots.reshape(-1, 1), roots.reshape(1, -1))
            r = await fx.div(session, fx.rescale(centred, FRAC).reshape(-1), scale.reshape(-1))
            return {"r": (release(session, r), FRAC), "n": (release(session, n), 0)}

        out = self._release(program, modulus)
        p = len(specs)
        matrix = np.clip(out["r"].reshape(p, p), -1.0, 1.0)
        np.fill_diagonal(matrix, 1.0)
        frame = pd.DataFrame(matrix, index=list(columns), columns=list(columns))
        return CorrResult(frame, float(out["n"]), method)

    def _value_sums(
        self, columns: Sequence[str], where: str | None, gram_bits: int
    ) -> _SumsOfProducts:
        """n, the sums and the sums of products of the columns' grid values, pooled; a SQL
        source computes them in the database."""
        specs = [self._column(c) for c in columns]
        steps = [1.0, *(spec.precision for spec in specs)]

        def local(frame: pd.DataFrame | SqlTable | None) -> np.ndarray:
            if isinstance(frame, SqlTable):
                condition = filters.parse(where, self.schema)
                expressions = ["1", *(frame.identifier(c) for c in columns)]
                return frame.sums_of_products(condition, list(columns), expressions, steps, {})
            rows, _ = self._rows(frame, where, list(columns))
            grids = [
                spec.grid(rows[c].to_numpy(float)) for spec, c in zip(specs, columns, strict=True)
            ]
            return _exact_gram(np.column_stack([np.ones(len(rows), np.int64), *grids]))

        async def sums(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> tuple[Shared, Shared, Shared]:
            gram = (await pool(session, local(frame), gram_bits)).with_bits(gram_bits)
            return gram[0, 0], gram[0, 1:], gram[1:, 1:]

        return sums

    def _rank_sums(self, columns: Sequence[str], where: str | None) -> tuple[int, _SumsOfProducts]:
        """Bits and the pooled n, sums and sums of products of the doubled mid-ranks."""
        specs = [self._column(c) for c in columns]
        low = [int(spec.grid(np.array([spec.lo]))[0]) for spec in specs]
        sizes = [
            int(spec.grid(np.array([spec.hi]))[0]) - lo + 1
            for spec, lo in zip(specs, low, strict=True)
        ]
        pairs = [(i, j) for i in range(len(specs)) for j in range(i + 1, len(specs))]
        for i, j in pairs:
            if sizes[i] * sizes[j] > _MAX_LEVEL_PAIRS:
                raise ConfigurationError(
                    f"Spearman ranks on the declared grids: {columns[i]!r} has {sizes[i]} levels "
                    f"and {columns[j]!r} {sizes[j]}, more than {_MAX_LEVEL_PAIRS} pairs; declare "
                    "a coarser precision for these columns"
                )
        rank_bits = COUNT_BITS + 2  # 2R <= 2n + 1
        gram_bits = 3 * COUNT_BITS + 4  # sum h (2R)^2 <= n (2n + 1)^2

        def local(rows: pd.DataFrame) -> np.ndarray:
            codes = [
                spec.grid(rows[c].to_numpy(float)) - lo
                for spec, c, lo in zip(specs, columns, low, strict=True)
            ]
            weights = _weights(rows)
            tables = [np.array([_size(rows)])]
            tables += [
                np.bincount(g, weights, minlength=size)
                for g, size in zip(codes, sizes, strict=True)
            ]
            tables += [
                np.bincount(codes[i] * sizes[j] + codes[j], weights, minlength=sizes[i] * sizes[j])
                for i, j in pairs
            ]
            return np.concatenate(tables).astype(np.int64)

        async def sums(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> tuple[Shared, Shared, Shared]:
            # level counts: a SQL source returns value combinations and their counts
            rows, _ = self._rows(frame, where, list(columns), collapse=True)
            pooled = (await pool(session, local(rows), COUNT_BITS)).with_bits(COUNT_BITS)
            edges = np.cumsum([1, *sizes, *(sizes[i] * sizes[j] for i, j in pairs)])
            parts = [pooled[a:b] for a, b in itertools.pairwise(edges)]
            counts, tables = parts[: len(sizes)], parts[len(sizes) :]
            ranks = [(2 * h.cumsum() - h + 1).with_bits(rank_bits) for h in counts]
            field = session.field
            first = await reduce_degree(
                session,
                [(field, field.mul(h.share, r.share)) for h, r in zip(counts, ranks, strict=True)]
                + [
                    (field, field.dot(t.share.reshape(sizes[i], sizes[j]), ranks[j].share))
                    for t, (i, j) in zip(tables, pairs, strict=True)
                ],
            )
            weighted, crossed = first[: len(sizes)], first[len(sizes) :]
            second = await reduce_degree(
                session,
                [(field, field.dot(w, r.share)) for w, r in zip(weighted, ranks, strict=True)]
                + [
                    (field, field.dot(ranks[i].share, v))
                    for v, (i, _) in zip(crossed, pairs, strict=True)
                ],
            )
            cross = field.zeros((len(sizes), len(sizes)))
            for i in range(len(sizes)):
                cross[i, i] = second[i]
            for (i, j), value in zip(pairs, second[len(sizes) :], strict=True):
                cross[i, j] = cross[j, i] = value
            sums_ = np.array([field.reduce(np.sum(w)) for w in weighted], dtype=object)
            return (
                pooled[0],
                Shared(field, sums_, 2 * COUNT_BITS + 3, 0),
                Shared(field, cross, gram_bits, 0),
            )

        return gram_bits, sums

    @analysis
    def mann_whitney(self, column: str, by: str, where: str | None = None) -> MannWhitneyResult:
        """Mann-Whitney U test between the two levels of ``by``, with the AUC, exact for values
        on the declared grid (ties counted half), as scipy's ``method="asymptotic"``.

        Each party makes the histogram of each group on the grid; with the pooled histograms
        h_A and h_B secret, 2U = h_A . (2 cumsum(h_B) - h_B) is one secure inner product, and
        the tie term sum(t^3 - t), t = h_A + h_B, two more.

        Leakage: the analyst learns U, both group sizes and the tie term; parties learn nothing.
        """
        from scipy import stats

        spec = self._column(column)
        levels = self._column(by).levels
        if len(levels) != 2:
            raise ConfigurationError(f"mann_whitney compares two groups; {by!r} has {len(levels)}")
        low, high = (int(v) for v in spec.grid(np.array([spec.lo, spec.hi])))
        size = high - low + 1
        if size > 2_000_000:
            raise ConfigurationError(
                f"column {column!r} has {size} grid points: declare a coarser precision"
            )
        value_bits = 3 * COUNT_BITS + 2

        async def program(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> dict[str, Any]:
            rows, _ = self._rows(frame, where, [column, by], collapse=True)
            grid = spec.grid(rows[column].to_numpy(float)) - low
            codes, weights = _codes(rows[by], levels), _weights(rows)
            local = np.stack(
                [
                    np.bincount(
                        grid[codes == g],
                        None if weights is None else weights[codes == g],
                        minlength=size,
                    ).astype(np.int64)
                    for g in (0, 1)
                ]
            )
            hist = (await pool(session, local, COUNT_BITS)).with_bits(COUNT_BITS)
            first, second = hist[0], hist[1]
            below = (second.cumsum() * 2 - second).with_bits(COUNT_BITS + 1)
            twice_u = await P.dot(session, first, below)
            ties = (first + second).with_bits(COUNT_BITS)
            cubes = await P.dot(session, await P.mul(session, ties, ties), ties)
            sizes = P.concatenate([first.sum().reshape(1), second.sum().reshape(1)])
            return {
                "twice_u": (release(session, twice_u), 0),
                "cubes": (release(session, cubes.with_bits(value_bits)), 0),
                "sizes": (release(session, sizes), 0),
            }

        out = self._release(program, _round_up(2 * value_bits + 120))
        n1, n2 = (float(v) for v in out["sizes"])
        u = float(out["twice_u"]) / 2
        total = n1 + n2
        tie_term = float(out["cubes"]) - total  # sum over values of t^3 - t
        sigma = math.sqrt(n1 * n2 / 12 * ((total + 1) - tie_term / (total * (total - 1))))
        centre = u - n1 * n2 / 2
        z = (abs(centre) - 0.5) / sigma  # continuity correction, as scipy's default
        pvalue = float(min(1.0, 2 * stats.norm.sf(z)))
        return MannWhitneyResult(u, pvalue, u / (n1 * n2), n1, n2)

    @analysis
    def mantel_haenszel(
        self, exposure: str, outcome: str, strata: str, where: str | None = None
    ) -> MantelHaenszelResult:
        """Mantel-Haenszel pooled odds ratio of a binary ``outcome`` for a binary ``exposure``
        (the second level of each against the first) across the levels of ``strata``, its
        Robins-Breslow-Greenland standard error, and the Cochran-Mantel-Haenszel test.

        Every stratum's 2 x 2 table stays secret: the per-stratum terms (a d / n, b c / n, the
        expectations and variances of a) are computed and summed inside MPC.
        Leakage: the analyst learns the pooled odds ratio, its standard error, the CMH statistic
        and n; all parties learn whether n >= k and whether the pooled odds ratio is finite and
        non-zero (else the analysis stops with an error).
        """
        binary = {name: self._column(name).levels for name in (exposure, outcome)}
        for name, levels in binary.items():
            if len(levels) != 2:
                raise ConfigurationError(f"mantel_haenszel: {name!r} must have two levels")
        strata_levels = self._column(strata).levels
        size = len(strata_levels)
        modulus = _round_up(12 * COUNT_BITS + 6 * FRAC + 200)
        k = self.policy.k

        def local(rows: pd.DataFrame) -> np.ndarray:
            codes = [_codes(rows[strata], strata_levels)]
            codes += [_codes(rows[name], levels) for name, levels in binary.items()]
            return _cell_counts(codes, [size, 2, 2], _weights(rows)).reshape(size, 4)

        async def program(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> dict[str, Any]:
            rows, _ = self._rows(frame, where, [exposure, outcome, strata], collapse=True)
            table = (await pool(session, local(rows), COUNT_BITS)).with_bits(COUNT_BITS)
            # columns: (unexposed, no event), (unexposed, event), (exposed, no), (exposed, event)
            d, c, b, a = (table[:, i].with_bits(COUNT_BITS) for i in range(4))
            n = (a + b + c + d).with_bits(COUNT_BITS)
            total = n.sum().with_bits(COUNT_BITS).reshape(1)
            if (await P.open_ltz(session, total - k, label="at least k records"))[0]:
                raise PolicyError(f"mantel_haenszel needs at least k = {k} records")
            terms = await _mantel_haenszel_terms(session, a, b, c, d, n)
            return {
                "oddsratio": (release(session, terms[0]), FRAC),
                "variance": (release(session, terms[1]), FRAC),
                "statistic": (release(session, terms[2]), FRAC),
                "n": (release(session, total), 0),
            }

        out = self._release(program, modulus)
        return MantelHaenszelResult(
            float(out["oddsratio"][0]),
            math.sqrt(max(float(out["variance"][0]), 0.0)),
            float(out["statistic"][0]),
            float(out["n"][0]),
            size,
            exposure,
            outcome,
        )

    @analysis
    def bland_altman(
        self, method_a: str, method_b: str, where: str | None = None
    ) -> BlandAltmanResult:
        """Agreement of two measurement methods: bias (mean of a - b) and the 95% limits of
        agreement, bias +/- 1.96 sd. Leakage: n, bias and sd of the differences."""
        grid, bits, step = self._differences(method_a, method_b)
        frame, _, notes = self._group_moments(grid, bits, step, [method_a, method_b], where, None)
        n, bias, sd = (float(v) for v in frame.iloc[0][["n", "mean", "std"]])
        return BlandAltmanResult(bias, sd, (bias - 1.96 * sd, bias + 1.96 * sd), n, notes)

    @analysis
    def mean(self, column: str, where: str | None = None, by: str | None = None) -> Any:
        """The mean (a float, or a Series per group). Leakage: as :meth:`describe`, whose n,
        mean and variance the analyst receives."""
        return self.describe(column, where, by).mean

    @analysis
    def var(self, column: str, where: str | None = None, by: str | None = None) -> Any:
        """The variance (n - 1 denominator, as pandas). Leakage: as :meth:`describe`."""
        return self.describe(column, where, by).var

    @analysis
    def std(self, column: str, where: str | None = None, by: str | None = None) -> Any:
        """The standard deviation (n - 1 denominator). Leakage: as :meth:`describe`."""
        return self.describe(column, where, by).std

    # quantiles ---------------------------------------------------------------------------------
    @analysis
    def quantiles(
        self,
        column: str,
        q: Sequence[float] = (0.25, 0.5, 0.75),
        where: str | None = None,
        by: str | None = None,
    ) -> QuantileResult:
        """Exact quantiles of the pooled column (numpy.quantile's default 'linear' method).

        With ``by``, per level: first the groups are counted, with complementary suppression
        (:meth:`count`), so that the n of a group below k cannot be recovered from the others'
        and the total; then each released group is searched in a session of its own. Leakage:
        as :meth:`count` with ``by``, then as below for each released group.

        The pooled number of complete records n is opened once it is known to be at least k.
        Then a secure search runs over the declared precision grid, several bits a step: at
        each step every party counts its own records at or below each of 2^b - 1 public probes
        splitting the remaining interval (a SQL source returns value counts, not rows), the
        counts are pooled, and only the comparisons of the pooled counts with the target rank
        are opened. A 16-bit grid takes two steps.

        Leakage: the parties and the analyst learn whether n >= k, then n, and the order
        statistics on either side of each released quantile (the search path reveals nothing
        else). A quantile is released, and searched for, only if at least k records lie on each
        side of it.
        """
        spec = self._column(column)
        if spec.kind == "category":
            raise ConfigurationError(f"column {column!r} is a category: quantiles need numbers")
        levels = np.asarray(q, dtype=np.float64).reshape(-1)
        if np.any((levels < 0) | (levels > 1)) or np.isnan(levels).any():
            raise ConfigurationError("quantile levels lie in [0, 1]")
        if by is not None:
            return self._quantiles_by(column, levels, where, by)
        k = self.policy.k
        lo_grid, hi_grid = (int(v) for v in spec.grid(np.array([spec.lo, spec.hi])))
        width = max(hi_grid - lo_grid, 1).bit_length()  # the grid fits in 2^width values

        async def program(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> dict[str, Any]:
            rows, excluded = self._rows(frame, where, [column], collapse=True)
            grid = spec.grid(rows[column].to_numpy(np.float64))
            at_or_below = _cumulative_counts(grid, rows, lo_grid, width)
            # every search starts on the whole grid: its first counts are pooled with n
            # the most searches n can need (at least one: with no level asked, n is released)
            plan = _search_digits(width, max(2 * len(levels), 1))
            first = _probes(np.array([lo_grid]), *plan[0])
            local = np.concatenate([[_size(rows), excluded], at_or_below(first.ravel())])
            pooled_first = await pool(session, local, COUNT_BITS)
            missing = {"excluded": (release(session, pooled_first[1:2]), 0)}
            pooled_first = P.concatenate([pooled_first[:1], pooled_first[2:]])
            (total,) = await open_if_at_least(session, pooled_first[:1], k, "quantile n")
            if total is None:
                return missing | {PUBLIC: {"n": None, "grid": []}}
            _, below, above = _order_ranks(total, levels)
            allowed = (below >= k) & (total - 1 - above >= k)
            ranks, searched = np.unique(
                np.concatenate([below[allowed], above[allowed]]), return_inverse=True
            )
            low = np.full(len(ranks), lo_grid, dtype=np.int64)
            steps = plan if len(ranks) else []
            # a count c and a target rank r lie in [0, n] and [1, n]: |c - r| < 2^bits(n)
            bits = total.bit_length()
            ahead = None  # each step's comparison masks are dealt during the step before
            for step, (digit_bits, remaining) in enumerate(steps):
                part = 1 << (remaining - digit_bits)
                probes = _probes(low, digit_bits, remaining)
                if step == 0:
                    pooled = P.concatenate([pooled_first[1:]] * len(ranks))
                else:
                    pooled = await pool(session, at_or_below(probes.ravel()), COUNT_BITS)
                targets = np.repeat(ranks + 1, probes.shape[1])
                gaps = (pooled - targets).with_bits(bits)
                label = "quantile search step"
                if step + 1 < len(steps):
                    count = len(ranks) * ((1 << steps[step + 1][0]) - 1)
                    passed, ahead = await session.together(
                        P.open_ltz(session, gaps, ahead=ahead, label=label),
                        P.comparison_masks(session, count, bits, opened=True),
                    )
                else:
                    passed = await P.open_ltz(session, gaps, ahead=ahead, label=label)
                low = low + part * passed.reshape(probes.shape).astype(np.int64).sum(axis=1)
            return missing | {PUBLIC: {"n": total, "grid": low[searched].tolist()}}

        out = self._release(program, 127)
        excluded = float(out["excluded"][0])
        if out["n"] is None:
            values = pd.Series(np.nan, index=levels)
            notes = ["n is below k: suppressed."]
            return QuantileResult(values, column, float("nan"), notes, excluded)
        total = int(out["n"])
        positions, below, above = _order_ranks(total, levels)
        allowed = (below >= k) & (total - 1 - above >= k)
        grid = np.asarray(out["grid"], dtype=np.float64)
        low, high = np.full(len(levels), np.nan), np.full(len(levels), np.nan)
        low[allowed], high[allowed] = grid[: allowed.sum()], grid[allowed.sum() :]
        values = (low + (positions - below) * (high - low)) * spec.precision
        notes = (
            []
            if allowed.all()
            else [f"quantiles with fewer than k = {k} records on either side are suppressed."]
        )
        series = pd.Series(values, index=levels)
        return QuantileResult(series, column, float(total), notes, excluded)

    def _quantiles_by(
        self, column: str, levels: np.ndarray, where: str | None, by: str
    ) -> QuantileResult:
        """:meth:`quantiles` per level of ``by`` (see there)."""
        groups = self.count(where=where, by=by)
        values = pd.DataFrame(np.nan, index=groups.counts.index, columns=levels)
        ns = pd.Series(np.nan, index=groups.counts.index, name="n")
        notes = list(groups.notes)
        for level, count in groups.counts.items():
            if np.isnan(count):
                continue
            condition = filters.equals(by, level)
            result = self.quantiles(
                column, levels.tolist(), f"({where}) and {condition}" if where else condition
            )
            values.loc[level] = result.values.to_numpy()
            ns[level] = result.n
            notes += [note for note in result.notes if note not in notes]
        return QuantileResult(values, column, ns, notes, groups.excluded)

    @analysis
    def median(self, column: str, where: str | None = None, by: str | None = None) -> Any:
        """The exact median of the pooled column (NaN when suppressed), or a Series of them per
        level of ``by``. Leakage: as :meth:`quantiles` for q = 0.5: n, and the order statistics
        around the median."""
        values = self.quantiles(column, [0.5], where, by).values
        return values[0.5] if by else float(values.iloc[0])

    # models ------------------------------------------------------------------------------------
    @analysis
    def ols(
        self, formula: str, where: str | None = None, cov_type: str = "nonrobust"
    ) -> OLSResults:
        """Least squares with statsmodels' formulas and result names (``cov_type`` "HC1" for
        heteroscedasticity-robust standard errors).

        Each party computes X'X, X'y and y'y of its own rows exactly on the schema's grid, and
        these are pooled. The pooled X'X is inverted exactly over the field
        (:func:`~mpcstats.protocols.linalg.field_inverse`); the analyst receives (X'X)^-1, the
        coefficients and the residual sum of squares as field elements and recovers them as
        exact fractions. HC1 needs the residuals of every row, so it solves in fixed point
        (Newton-Schulz) and the parties compute their residual sums with the coefficients public.

        Leakage: the analyst learns n, the coefficients, (X'X)^-1 and the residual and total
        sums of squares, exactly; together these determine the pooled X'X, X'y and y'y, as any
        OLS output at full precision nearly does. The parties learn whether the model passed
        the policy's size guard and whether X'X is singular (with HC1 too, before its fixed-point
        solve); with HC1 they also learn the coefficients (rounded to 80 fractional bits) for
        the residual pass. No party's X'X or
        X'y is ever opened.
        """
        from mpcstats.stats.formula import parse_formula

        if cov_type not in {"nonrobust", "HC1"}:
            raise ConfigurationError(f"cov_type is 'nonrobust' or 'HC1', not {cov_type!r}")
        design = parse_formula(formula, self.schema)
        if cov_type == "HC1":
            return self._ols_robust(design, formula, where)
        d = len(design.names)
        steps, bounds = self._design_grid(design)
        gram_bits = 2 * int(bounds.max()).bit_length() + COUNT_BITS + 1
        numerator_bits, denominator_bits = _ols_fraction_bits([float(b) for b in bounds])
        modulus = _round_up(numerator_bits + denominator_bits + 2)

        async def program(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> dict[str, Any]:
            full, _ = self._model_sums(frame, where, design, steps)
            n, sy, gram = await self._pooled_gram(session, full, gram_bits, design)
            field = session.field
            inverse = await field_inverse(session, gram[:d, :d], label="masked X'X")
            xty, yy = gram[:d, d].share, gram[d, d].share
            (beta,) = await reduce_degree(session, [(field, field.dot(inverse, xty))])
            ssr = field.sub(yy, field.dot(xty, beta))  # y'y - b'(X'X)^-1 b
            spread = field.sub(field.mul(n.share, yy), field.mul(sy.share, sy.share))
            tss_times_n = spread if design.intercept else field.mul(n.share, yy)
            shares = await release_products(session, [inverse, beta, ssr, tss_times_n, n.share])
            names = ["inverse", "coefficients", "ssr", "tss_times_n", "n"]
            return {name: (share, 0) for name, share in zip(names, shares, strict=True)}

        out = self._release(program, modulus)
        prime = PrimeField.with_bits(modulus)

        def exact(name: str) -> np.ndarray:
            bound = (1 << numerator_bits, 1 << denominator_bits)
            values = np.ravel(out[name])
            return np.array([float(prime.rational(int(v), *bound)) for v in values])

        n = float(out["n"])
        x_steps, y_step = steps[:d], steps[d]
        inverse = exact("inverse").reshape(d, d) / np.outer(x_steps, x_steps)
        ssr = float(exact("ssr")[0]) * y_step**2
        return OLSResults(
            pd.Series(exact("coefficients") * y_step / x_steps, index=design.names),
            pd.DataFrame(inverse * ssr / (n - d), index=design.names, columns=design.names),
            n,
            ssr,
            float(Fraction(int(out["tss_times_n"]), int(out["n"]))) * y_step**2,
            formula,
            "nonrobust",
            [
                "computed exactly: (X'X)^-1, the coefficients and the residual sum of squares "
                "are exact fractions, rounded once to floating point by the analyst."
            ],
        )

    async def _pooled_gram(
        self, session: Session, full: np.ndarray, gram_bits: int, design: Any
    ) -> tuple[Shared, Shared, Shared]:
        """n, sum y and the Gram matrix of [X, y] from the parties' [1, X, y]'[1, X, y], pooled
        and checked by the model guards."""
        d = len(design.names)
        pooled = await pool(session, full, gram_bits)
        n, sy, gram = pooled[0, 0].with_bits(COUNT_BITS), pooled[0, d + 1], pooled[1:, 1:]
        await self._guard_model(session, n, gram, design)
        return n, sy, gram

    async def _guard_model(self, session: Session, n: Shared, gram: Shared, design: Any) -> None:
        """The policy's model guards, side by side; only their verdicts are opened.

        Size: n >= max(k, d / max_parameter_fraction). Levels: every 0/1 covariate has at least
        k records at 0 and at 1 (DataSHIELD's rule: a coefficient of a rare level describes a
        few patients). ``gram`` is the pooled Gram matrix of the grid design, whose diagonal
        counts the ones of a 0/1 column."""
        k, fraction, d = self.policy.k, self.policy.max_parameter_fraction, len(design.names)
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

    def _ols_robust(self, design: Any, formula: str, where: str | None) -> OLSResults:
        """OLS with HC1 standard errors: the coefficients are solved in fixed point and opened
        to the parties, which pool their residual-weighted sums Σ e² x x'."""
        d = len(design.names)
        steps, bounds = self._design_grid(design)
        gram_bits = 2 * int(bounds.max()).bit_length() + COUNT_BITS + 1
        work = 80  # truncation noise in the inversion is amplified by the conditioning
        modulus = _round_up(2 * (gram_bits + FRAC) + 2 * work + 160)

        async def program(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> dict[str, Any]:
            full, residual_sums = self._model_sums(frame, where, design, steps)
            n, sy, gram = await self._pooled_gram(session, full, gram_bits, design)
            await field_inverse(session, gram[:d, :d], label="masked X'X")  # full rank?
            xtx = fx.rescale(gram[:d, :d], FRAC)
            xty = fx.rescale(gram[:d, d], FRAC)
            inverse = await inverse_spd(session, xtx, work=work)
            beta = await fx.matmul(session, inverse, xty.reshape(d, 1), frac=work)
            coefficients = await P.open(session, beta.reshape(d), label="coefficients")
            local = residual_sums(np.asarray(coefficients, np.float64))
            sums = await pool(session, np.array(local), gram_bits + FRAC, frac=FRAC)
            spread = (await P.mul(session, n, gram[d, d])) - (await P.mul(session, sy, sy))
            return {
                "inverse": (release(session, inverse), inverse.frac),
                "sums": (release(session, sums), FRAC),
                "n": (release(session, n), 0),
                "tss_times_n": (release(session, spread if design.intercept else gram[d, d]), 0),
                "coefficients": (release(session, beta.reshape(d)), work),
            }

        out = self._release(program, modulus)
        return self._ols_robust_result(design, formula, out)

    @analysis
    def logit(
        self, formula: str, where: str | None = None, maxiter: int = 35, tol: float = 1e-10
    ) -> DiscreteResults:
        """Logistic regression by Newton's method (IRLS), with statsmodels' result names.

        Each iteration, every party computes the gradient and Hessian of its own rows at the
        current coefficients. These are pooled, and the Newton step is solved inside MPC; no
        party's contribution is opened.

        Leakage: the parties and the analyst learn every iterate of the coefficients (the
        parties need them to compute the next local contributions). The analyst also learns
        the final covariance (the inverse pooled Hessian), the log-likelihood, n and the number
        of events (for the null log-likelihood). The parties also learn whether the model passed
        the size guard and whether the design has full rank (the exact pooled Z'Z, masked by a
        secret uniform matrix, is opened: its invertibility is all it shows), which is checked
        beside the first solve; a rank-deficient design raises SingularMatrixError. Whether a
        solve starts from the previous one's inverse is decided from the opened step and the
        schema, so it reveals nothing more.

        The covariance is the inverse Hessian at the final coefficients, or, when the last step
        moved every weight by less than a factor e^1e-9 (the schema's ranges bound this), the
        inverse the last step already computed, as R's ``glm`` does: it differs by less than
        1e-9 relative and saves a solve.
        """
        return self._newton_fit(formula, where, _LOGIT, None, maxiter, tol)

    @analysis
    def poisson(
        self,
        formula: str,
        offset: str | None = None,
        where: str | None = None,
        maxiter: int = 35,
        tol: float = 1e-10,
    ) -> DiscreteResults:
        """Poisson regression (log link) by Newton's method; ``offset`` names a column added to
        the linear predictor (e.g. log person-years). Leakage: as :meth:`logit`, with the total
        count of events and the pooled sums of the null and saturated log-likelihoods: sum of
        log y!, of y log y - y, and with an offset of exp(offset) and y * offset."""
        return self._newton_fit(formula, where, _POISSON, offset, maxiter, tol)

    def _newton_fit(
        self,
        formula: str,
        where: str | None,
        family: _Family,
        offset: str | None,
        maxiter: int,
        tol: float,
    ) -> DiscreteResults:
        from mpcstats.stats.formula import parse_formula

        design = parse_formula(formula, self.schema)
        family.check(self.schema[design.response])
        if offset is not None and self.schema[offset].kind not in {"int", "float"}:
            raise ConfigurationError(f"the offset {offset!r} must be a numeric column")
        if maxiter < 1:
            raise ConfigurationError(f"maxiter must be at least 1 (a Newton step), got {maxiter}")
        if not 0 < tol < 1:  # NaN fails too
            raise ConfigurationError(f"tol lies in (0, 1), not {tol!r}")
        d = len(design.names)
        steps, bounds = self._design_grid(design)
        x_bits = int(bounds[:d].max()).bit_length()
        y_bits = int(bounds[d]).bit_length()
        hess_bits = COUNT_BITS + 2 * x_bits + y_bits + FRAC
        grad_bits = COUNT_BITS + x_bits + y_bits + FRAC
        scalar_bits = COUNT_BITS + 32 + FRAC  # the log-likelihood and its constant
        work = 80
        needed_bits = spd_field_bits(
            d,
            hess_bits,
            FRAC,
            grad_bits,
            condition=_NEWTON_CONDITION,
            work=work,
            kappa=DEFAULT_KAPPA,
        )
        modulus = _round_up(needed_bits)
        needed = design.columns + ([offset] if offset else [])

        def passes(frame: pd.DataFrame | SqlTable | None) -> Callable[[], Iterator[_Block]]:
            """A fresh pass over the party's (z, y, offset) blocks, for each Newton step."""

            def block(rows: pd.DataFrame) -> _Block:
                x, y = design.matrix(rows)
                shift = rows[offset].to_numpy(float) if offset else np.zeros(len(rows))
                return x / steps[:d], y, shift  # z: integers on the grid, as floats

            if isinstance(frame, SqlTable):  # the rows stream from the database each pass
                condition = filters.parse(where, self.schema)
                return lambda: map(block, frame.chunks(condition, needed))
            blocks = [block(self._rows(frame, where, needed)[0])]
            return lambda: iter(blocks)

        def summed(
            blocks: Callable[[], Iterator[_Block]], part: Callable[..., Any], beta: np.ndarray
        ) -> Any:
            """The sum over blocks (at least one) of ``part(z, y, eta)``: a number, an array
            or a tuple of them."""
            parts = [part(z, y, z @ beta + shift) for z, y, shift in blocks()]
            return functools.reduce(_plus, parts)

        async def program(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> dict[str, Any]:
            blocks = passes(frame)

            async def pooled_at(beta: np.ndarray, *scalars: float) -> tuple[Shared, Shared, Shared]:
                """The pooled Hessian and gradient at ``beta`` and the pooled ``scalars`` (each
                below 2^(COUNT_BITS + 32) in magnitude), shared in one round."""
                hess, grad = summed(blocks, family.parts, beta)
                local = np.concatenate([hess.ravel(), grad, scalars])
                every = await pool(session, local, max(hess_bits, scalar_bits), frac=FRAC)
                h = every[: d * d].reshape(d, d).with_bits(hess_bits)
                return h, every[d * d : d * d + d].with_bits(grad_bits), every[d * d + d :]

            # one pass over the rows for everything that does not depend on the coefficients
            *before, gram = summed(
                blocks,
                lambda z, y, eta: (*family.fixed_sums(z, y, eta), _exact_gram(z)),
                np.zeros(d),
            )
            n_rows, events, *fixed = before
            solver = SpdSolver(session, condition=_NEWTON_CONDITION, work=work)
            hess, grad = (hess_bits, FRAC), (grad_bits, FRAC)

            async def newton_step(beta: np.ndarray, drift: float) -> Shared:
                """The step's shares; its masks are dealt in the round that pools H and g."""
                plan = solver.prepare(d, hess, grad, drift=drift)
                (h, g, _), masks = await session.together(pooled_at(beta), solver.deal(plan))
                return await solver.solve(h, g, ahead=(plan, masks))

            async def guard() -> Shared:
                """n and the events, after the size guard and a check that the design has full
                rank (the exact pooled Z'Z must be invertible); only the verdicts open."""
                local = np.concatenate([[n_rows, events], np.ravel(gram)])
                pooled = await pool(session, local, COUNT_BITS + max(y_bits, 2 * x_bits + 1))
                totals, pooled_gram = pooled[:2], pooled[2:].reshape(d, d)
                await self._guard_model(session, totals[0], pooled_gram, design)
                await field_inverse(session, pooled_gram, label="masked Z'Z")
                return totals

            # the guard's rounds run beside the first (cold) solve; nothing is opened before both
            totals, step = await session.together(guard(), newton_step(np.zeros(d), math.inf))
            beta, converged, iteration = np.zeros(d), False, 1
            while True:
                delta = np.asarray(await P.open(session, step, label="Newton step"), float)
                beta = beta + delta
                drift = _weight_drift(delta, bounds[:d])
                converged = bool(np.max(np.abs(delta)) <= tol * (1 + np.max(np.abs(beta))))
                if converged or iteration == maxiter:
                    break
                iteration += 1
                step = await newton_step(beta, drift)
            loglik = max(summed(blocks, lambda z, y, eta: family.loglik(y, eta), beta), -(2.0**45))
            inverse = solver.last_inverse
            if drift <= _REUSED_HESSIAN_DRIFT and inverse is not None:  # as R's glm does
                sums = await pool(session, np.array([loglik, *fixed]), scalar_bits, frac=FRAC)
            else:
                plan = solver.prepare(d, hess, drift=drift)
                pooled, masks = await session.together(
                    pooled_at(beta, loglik, *fixed), solver.deal(plan)
                )
                h, _, sums = pooled
                inverse = await solver.inverse(h, ahead=(plan, masks))
            return {
                "inverse": (release(session, inverse), inverse.frac),
                "totals": (release(session, totals), 0),
                "likelihood": (release(session, sums), FRAC),
                PUBLIC: {"beta": beta.tolist(), "iterations": iteration, "converged": converged},
            }

        out = self._release(program, modulus)
        return self._discrete_result(design, formula, out, steps, family, offset)

    def _discrete_result(
        self,
        design: Any,
        formula: str,
        out: dict[str, Any],
        steps: np.ndarray,
        family: _Family,
        offset: str | None,
    ) -> DiscreteResults:
        names = design.names
        d = len(names)
        x_steps = steps[:d]
        n, events = (float(v) for v in out["totals"])
        llf, *fixed = (float(v) for v in out["likelihood"])
        notes = ["iterates of the coefficients were revealed to the parties (see docs)."]
        if not out["converged"]:
            notes.append(
                f"did not converge in {out['iterations']} iterations: the outcome may be "
                "(quasi-)separated by a covariate; estimates and standard errors are unreliable."
            )
            warnings.warn(notes[-1], RuntimeWarning, stacklevel=4)
        return DiscreteResults(
            params=pd.Series(np.asarray(out["beta"]) / x_steps, index=names),
            cov=pd.DataFrame(
                out["inverse"].reshape(d, d) / np.outer(x_steps, x_steps),
                index=names,
                columns=names,
            ),
            nobs=n,
            ssr=float("nan"),
            centered_tss=float("nan"),
            formula=formula,
            cov_type="nonrobust",
            notes=notes,
            model=family.name,
            llf=llf,
            llnull=family.null_loglik(n, events, *fixed),
            llsat=family.saturated_loglik(*fixed),
            iterations=int(out["iterations"]),
            converged=bool(out["converged"]),
        )

    def _model_sums(
        self, frame: pd.DataFrame | SqlTable | None, where: str | None, design: Any, steps: Any
    ) -> tuple[np.ndarray, Callable[[np.ndarray], list[float]]]:
        """[1, Z]'[1, Z] for the grid values Z = [X, y] of the party's complete rows, exactly,
        and the residual sums for given coefficients (for HC1): [e'e, e^2-weighted Z'Z].
        A SQL source computes both in the database; no row leaves it."""
        if isinstance(frame, SqlTable):
            condition = filters.parse(where, self.schema)
            expressions, parameters = design_sql(design, frame.identifier)
            query = (condition, design.columns)
            full = frame.sums_of_products(*query, ["1", *expressions], [1.0, *steps], parameters)

            def in_database(coefficients: np.ndarray) -> list[float]:
                return frame.residual_sums(
                    *query, expressions, list(steps), parameters, list(coefficients)
                )

            return full, in_database
        rows, _ = self._rows(frame, where, design.columns)
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

        return _exact_gram(ones_z), in_memory

    def _design_grid(self, design: Any) -> tuple[np.ndarray, np.ndarray]:
        """Grid step and largest |value| in steps of every design column and the response
        (indicators and the intercept have step 1 and bound 1)."""
        steps, bounds, _ = design.column_grid()
        response = self.schema[design.response]
        return np.array([*steps, response.precision]), np.array([*bounds, 1 << response.grid_bits])

    def _ols_robust_result(self, design: Any, formula: str, out: dict[str, Any]) -> OLSResults:
        names = design.names
        d = len(names)
        steps, _ = self._design_grid(design)
        x_steps, y_step = steps[:d], steps[d]
        n = float(out["n"])
        inverse = out["inverse"].reshape(d, d) / np.outer(x_steps, x_steps)  # (X'X)^-1
        meat = out["sums"][1:].reshape(d, d) * np.outer(x_steps, x_steps) * y_step**2
        return OLSResults(
            pd.Series(out["coefficients"] * y_step / x_steps, index=names),
            pd.DataFrame(n / (n - d) * inverse @ meat @ inverse, index=names, columns=names),
            n,
            float(out["sums"][0]) * y_step**2,
            float(Fraction(int(out["tss_times_n"]), int(out["n"]))) * y_step**2,
            formula,
            "HC1",
            [
                "HC1: computed inside MPC with Newton-Schulz inversion of the pooled X'X; "
                "accuracy about 1e-9 relative for well-conditioned designs (condition number "
                "<= 1e5 after column scaling)."
            ],
        )

    # extremes ----------------------------------------------------------------------------------
    @analysis
    def min(self, column: str, where: str | None = None) -> float:
        """The smallest value, if the policy allows extremes (they can identify a patient).

        Leakage: the pooled minimum, to the analyst only; each party's own minimum enters a
        secure tournament and is never opened; parties learn nothing."""
        return self._extreme(column, where, largest=False)

    @analysis
    def max(self, column: str, where: str | None = None) -> float:
        """The largest value, if the policy allows extremes (they can identify a patient).

        Leakage: the pooled maximum, to the analyst only; parties learn nothing."""
        return self._extreme(column, where, largest=True)

    def _extreme(self, column: str, where: str | None, largest: bool) -> float:
        if not self.policy.allow_extremes:
            raise PolicyError(
                "the study policy does not release minima or maxima (allow_extremes=False)"
            )
        spec = self._column(column)
        sentinel = spec.grid(np.array([spec.lo if largest else spec.hi]))[0]

        async def program(
            session: Session, frame: pd.DataFrame | SqlTable | None
        ) -> dict[str, Any]:
            rows, _ = self._rows(frame, where, [column], collapse=True)
            grid = spec.grid(rows[column].to_numpy(dtype=np.float64))
            mine = (grid.max() if largest else grid.min()) if len(grid) else sentinel
            parts = await P.input_all(session, np.array([mine]), bits=spec.grid_bits + 1)
            every = P.concatenate(parts)
            best = await (P.vector_max if largest else P.vector_min)(session, every)
            return {"value": (release(session, best), 0)}

        return float(self._release(program, 127)["value"]) * spec.precision


async def _mantel_haenszel_terms(
    session: Session, a: Shared, b: Shared, c: Shared, d: Shared, n: Shared
) -> list[Shared]:
    """[pooled odds ratio, variance of its log, CMH statistic] from the strata's cells."""
    strata = a.size
    zero = await P.is_zero(session, P.concatenate([n, n - 1]))
    small = zero[:strata] + zero[strata:]  # n <= 1: a stratum that carries no information
    products = await P.mul(
        session, P.concatenate([a, b, a + b, c + d, n]), P.concatenate([d, c, a + c, b + d, n - 1])
    )
    ad, bc, row_col, other, pairs = (products[i * strata : (i + 1) * strata] for i in range(5))
    safe_n = n + zero[:strata]  # empty strata have zero numerators: divide them by 1
    numerators = P.concatenate([ad, bc, a + d, b + c, row_col, other])
    denominators = P.concatenate([safe_n] * 5 + [pairs + small])
    ratios = await fx.div(session, fx.rescale(numerators, FRAC), fx.rescale(denominators, FRAC))
    r, s, p, q, expected, spread = (ratios[i * strata : (i + 1) * strata] for i in range(6))
    crossed = await fx.mul(
        session, P.concatenate([p, p, q, q, expected]), P.concatenate([r, s, r, s, spread])
    )
    pr, ps, qr, qs, variance_a = (crossed[i * strata : (i + 1) * strata] for i in range(5))
    sr, ss = r.sum().reshape(1), s.sum().reshape(1)
    sv = variance_a.sum().reshape(1)
    degenerate = await P.is_zero(session, P.concatenate([sr, ss, sv]))
    if int((await P.open(session, degenerate.sum().reshape(1), label="degenerate"))[0]):
        raise ConfigurationError(
            "mantel_haenszel: the pooled odds ratio is 0 or infinite, or no stratum has "
            "variance (every stratum lacks an exposed or unexposed case or control)"
        )
    deviation = fx.rescale(a.sum(), FRAC).reshape(1) - expected.sum().reshape(1)
    squares = await fx.mul(
        session, P.concatenate([sr, sr, ss, deviation]), P.concatenate([sr, ss, ss, deviation])
    )
    tops = P.concatenate(
        [sr, pr.sum().reshape(1), (ps + qr).sum().reshape(1), qs.sum().reshape(1), squares[3:]]
    )
    bottoms = P.concatenate([ss, 2 * squares[0:1], 2 * squares[1:2], 2 * squares[2:3], sv])
    quotients = await fx.div(session, tops, bottoms)
    variance = quotients[1:2] + quotients[2:3] + quotients[3:4]
    return [quotients[0:1], variance, quotients[4:5]]


def _codes(values: pd.Series, levels: Sequence[Any]) -> np.ndarray:
    """The level index of each value (-1 for values that are not a level)."""
    return np.asarray(pd.Categorical(values, categories=list(levels)).codes, dtype=np.int64)


def _cell_counts(
    codes: list[np.ndarray], sizes: list[int], weights: np.ndarray | None = None
) -> np.ndarray:
    """Counts of each combination of level indices, in one pass (rows with -1 are skipped);
    a row of a collapsed table counts its weight."""
    valid = np.logical_and.reduce([c >= 0 for c in codes])
    cell = np.zeros(int(valid.sum()), np.int64)
    for c, size in zip(codes, sizes, strict=True):
        cell = cell * size + c[valid]
    if weights is None:
        return np.bincount(cell, minlength=int(np.prod(sizes))).reshape(sizes)
    counts = np.zeros(int(np.prod(sizes)), np.int64)
    np.add.at(counts, cell, weights[valid])  # exact in int64, unlike bincount's float weights
    return counts.reshape(sizes)


def _weights(rows: pd.DataFrame) -> np.ndarray | None:
    """The multiplicity of each row of a table the database collapsed, or None (one each)."""
    return rows[WEIGHT].to_numpy(np.int64) if WEIGHT in rows.columns else None


def _size(rows: pd.DataFrame) -> int:
    weights = _weights(rows)
    return len(rows) if weights is None else int(weights.sum())


def _cumulative_counts(
    grid: np.ndarray, rows: pd.DataFrame, lo_grid: int, width: int
) -> Callable[[Any], np.ndarray]:
    """The number of the party's records at or below each probe in [lo_grid, lo_grid +
    2^width), for rows that may be the database's (value, count) pairs."""
    weights = _weights(rows)
    if width <= 22:  # a running count over the grid beats sorting
        counts = np.bincount(grid - lo_grid, weights=weights, minlength=1 << width)
        running = np.concatenate([[0], np.cumsum(counts.astype(np.int64))])
        return lambda probes: running[np.asarray(probes, np.int64) - lo_grid + 1]
    order = np.argsort(grid, kind="stable")
    values = grid[order]
    ones = np.ones(len(values), np.int64)
    running = np.concatenate([[0], np.cumsum(ones if weights is None else weights[order])])
    return lambda probes: running[np.searchsorted(values, probes, side="right")]


def _search_digits(width: int, searches: int, budget: int = 512) -> list[tuple[int, int]]:
    """The steps of a (2^b)-ary search over 2^width values: (b, bits still unknown) per step.
    Each step compares 2^b - 1 probes per search (``searches`` >= 1) in one batch, and b is as
    large as the ``budget`` of comparisons per step allows, so a 16-bit search takes 2 steps,
    not 16."""
    digit = max(1, min(width, int(np.log2(budget / searches + 1))))
    steps = max(1, math.ceil(width / digit))
    digit = math.ceil(width / steps)  # spread the bits evenly over the steps
    plan, remaining = [], width
    while remaining > 0:
        step = min(digit, remaining)
        plan.append((step, remaining))
        remaining -= step
    return plan


def _probes(low: np.ndarray, digit_bits: int, remaining: int) -> np.ndarray:
    """The 2^digit_bits - 1 probes of one search step from each ``low``: probe j is the last
    value of part j - 1 of [low, low + 2^remaining)."""
    part = 1 << (remaining - digit_bits)
    return low[:, None] + part * np.arange(1, 1 << digit_bits)[None, :] - 1


def _order_ranks(total: int, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of quantile ``levels`` among ``total`` sorted values (numpy's 'linear'), and
    the 0-based order statistics below and above each."""
    positions = (total - 1) * levels
    below = np.floor(positions).astype(np.int64)
    above = np.minimum(below + 1, total - 1)
    return positions, below, above


async def _yates_statistic(
    session: Session, observed: Shared, row_sums: Shared, col_sums: Shared, n: Shared
) -> Shared:
    """n max(|ad - bc| - n/2, 0)^2 / (R1 R2 C1 C2) for a 2 x 2 table, in fixed point.

    With u = 2(ad - bc), w = max(u - n, 0) + max(-u - n, 0) = 2 max(|ad - bc| - n/2, 0) (at most
    one term is positive), so both signs come from one batch of comparisons.
    """
    cells = observed.reshape(-1)
    products = await P.mul(session, cells[[0, 1]], cells[[3, 2]])  # ad, bc
    u = 2 * (products[0] - products[1])
    both = P.concatenate([(u - n).reshape(1), (-u - n).reshape(1)])
    negative = await P.ltz(session, both)
    w = (await P.mul(session, 1 - negative, both)).sum().with_bits(both.bits)
    left = P.concatenate([w.reshape(1), row_sums[0:1], col_sums[0:1]])
    right = P.concatenate([w.reshape(1), row_sums[1:2], col_sums[1:2]])
    products = await P.mul(session, left, right)  # w^2, R1 R2, C1 C2
    numerator = await P.mul(session, n.reshape(1), products[0:1])
    denominator = (4 * await P.mul(session, products[1:2], products[2:3])).with_bits(
        4 * COUNT_BITS + 3
    )
    ratio = await fx.div(session, fx.rescale(numerator, FRAC), fx.rescale(denominator, FRAC))
    return ratio[0]


def _finish_moments(n: int, s: int, q: int) -> tuple[float, float, float, float]:
    """n, mean, variance (n - 1 denominator) and sd from exact integer n, sum and sum of
    squares, each rounded once (NaN where undefined, as pandas)."""
    n, s, q = int(n), int(s), int(q)
    if n < 1:
        return float(n), math.nan, math.nan, math.nan
    mean = float(Fraction(s, n))
    if n < 2:
        return float(n), mean, math.nan, math.nan
    var = Fraction(n * q - s * s, n * (n - 1))
    return float(n), mean, float(var), math.sqrt(var)


def _has_missing(column: pd.Series) -> bool:
    """``Series.hasnans``, four times quicker on the usual numpy float and integer columns."""
    if not isinstance(column.dtype, np.dtype):  # extension types (nullable ints, ...)
        return bool(column.hasnans)
    if column.dtype.kind in "iub":
        return False
    if column.dtype == np.float64:
        # a sum of squares is NaN exactly when a value is (infinities square to +inf): one
        # BLAS pass, no boolean temporary
        values = column.to_numpy()
        return math.isnan(np.dot(values, values))
    if column.dtype.kind == "f":
        return bool(np.isnan(column.to_numpy()).any())
    return bool(column.hasnans)


def _moments(
    grid: np.ndarray, weights: np.ndarray | None, bits: int, step: float | None = None
) -> list[int]:
    """[n, sum, sum of squares] of integers below 2^bits in magnitude (the schema's range,
    checked when the table was loaded), each counted ``weights`` times, exactly. The integers
    come as int64, or as float64 (see :func:`_float_moments`), or with ``step`` as raw values
    whose grid steps rint(v / step) they are."""
    if weights is None and grid.dtype == np.float64:
        moments = _float_moments(grid, bits, step)
        if moments is not None:
            return moments
    if step is not None:
        grid = np.rint(np.divide(grid, step))
    if grid.dtype == np.float64:
        grid = grid.astype(np.int64)
    if weights is not None:  # few distinct values: Python integers cannot overflow
        values = [int(v) for v in grid]
        counts = [int(w) for w in weights]
        return [
            sum(counts),
            sum(c * v for c, v in zip(counts, values, strict=True)),
            sum(c * v * v for c, v in zip(counts, values, strict=True)),
        ]
    if len(grid) << (2 * bits) < 1 << 62:  # int64 sums cannot overflow: the fast path
        return [len(grid), int(grid.sum()), int(np.dot(grid, grid))]
    gram = _exact_gram(np.column_stack([np.ones(len(grid), np.int64), grid]))
    return [int(gram[0, 0]), int(gram[0, 1]), int(gram[1, 1])]


def _float_moments(grid: np.ndarray, bits: int, step: float | None = None) -> list[int] | None:
    """[n, sum, sum of squares] of float64 integers below 2^bits in magnitude, exactly, or
    None when their squares are too wide for float64. With ``step``, ``grid`` holds raw values
    and each block is put on the grid (rint(v / step)) on the way.

    Each block is short enough that its sum of squares, and so every partial sum in any order
    (numpy's pairwise sum, BLAS's dot), is an integer below 2^52: float64 adds them exactly.
    Blocks also stay within a core's cache, so the column is read from memory once (a third
    of the time of whole-column passes, on 1e6 rows).
    """
    if 2 * bits > _FLOAT_EXACT_BITS - _MIN_BLOCK_BITS:
        return None
    block = min(1 << (_FLOAT_EXACT_BITS - 2 * bits), _CACHED_BLOCK)
    buffer = np.empty(min(block, len(grid)))
    total = squares = 0
    for start in range(0, len(grid), block):
        part = grid[start : start + block]
        if step is not None:
            part = np.divide(part, step, out=buffer[: len(part)])
            np.rint(part, out=part)
        total += int(part.sum())
        squares += int(np.dot(part, part))
    return [len(grid), total, squares]


_FLOAT_EXACT_BITS = 52  # integers of magnitude below 2^52 add exactly in float64
_MIN_BLOCK_BITS = 10  # wider values take the int64 path rather than blocks of < 1024 rows
_CACHED_BLOCK = 1 << 16  # 512 KiB of float64: measured fastest on 1e6 rows (2^15-2^17 close)


def _exact_gram(z: np.ndarray) -> np.ndarray:
    """Z'Z of an integer matrix (int64, or float64 holding integers), exactly, as Python ints.

    BLAS float64 products are exact while every partial sum is an integer below 2^53, whatever
    the order of summation: values of b bits go in blocks of 2^(52 - 2b) rows, and values wider
    than 20 bits are split into two halves first (Z = H 2^h + L)."""
    bits = int(max(z.max(), -z.min())).bit_length() if z.size else 0  # no |z| temporary
    if bits <= 20:
        return _float_products(z, z, 1 << (52 - 2 * bits))
    z = z.astype(np.int64)
    if bits > 31:
        wide = z.astype(object)
        return np.asarray(wide.T @ wide, dtype=object)
    half = (bits + 1) // 2
    high, low = z >> half, z & ((1 << half) - 1)  # |high|, low < 2^half
    block = 1 << (52 - 2 * half)
    cross = _float_products(high, low, block)
    return (
        _float_products(high, high, block) * (1 << (2 * half))
        + (cross + cross.T) * (1 << half)
        + _float_products(low, low, block)
    )


def _float_products(a: np.ndarray, b: np.ndarray, block: int) -> np.ndarray:
    """A'B of integer matrices by float64 products over blocks of ``block`` rows, each exact."""
    total = np.zeros((a.shape[1], b.shape[1]), dtype=np.int64).astype(object)
    for start in range(0, len(a), block):
        rows = slice(start, start + block)
        part = np.asarray(a[rows], np.float64).T @ np.asarray(b[rows], np.float64)
        total = total + part.astype(np.int64).astype(object)
    return total


def _weight_drift(delta: np.ndarray, bounds: np.ndarray) -> float:
    """M with e^-M H_old <= H_new <= e^M H_old after a Newton step ``delta``: a record's linear
    predictor moves by |x'delta| <= sum_j bound_j |delta_j| (the schema's ranges), and a logit
    or Poisson weight changes by at most that factor in the log (|d log w / d eta| <= 1)."""
    return float(np.abs(delta) @ bounds)


def _expit(eta: np.ndarray) -> np.ndarray:
    """The logistic function, kept inside (e^-30, 1 - e^-30) so logs and weights stay finite."""
    return 1.0 / (1.0 + np.exp(-np.clip(eta, -30.0, 30.0)))


class _Family(abc.ABC):
    """What Newton's method needs of a model: mean, weights, log-likelihood."""

    name = ""

    @abc.abstractmethod
    def mean(self, eta: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def weights(self, mu: np.ndarray) -> np.ndarray: ...

    @abc.abstractmethod
    def loglik(self, y: np.ndarray, eta: np.ndarray) -> float: ...

    def constant(self, y: np.ndarray) -> np.ndarray:
        """Per-record terms of the log-likelihood that do not depend on the coefficients."""
        return np.zeros(len(y))

    def fixed_sums(self, z: np.ndarray, y: np.ndarray, eta: np.ndarray) -> tuple[Any, ...]:
        """A party's n and event count, then the sums that do not depend on the coefficients
        from which the analyst forms the null and saturated log-likelihoods (``eta`` holds the
        offset alone): the constant terms, and what :meth:`null_loglik` needs."""
        return len(y), int(y.sum()), float(self.constant(y).sum())

    @abc.abstractmethod
    def null_loglik(self, n: float, events: float, constant: float, *sums: float) -> float: ...

    def saturated_loglik(self, constant: float, *sums: float) -> float:
        """The log-likelihood of a model with one parameter per record."""
        return 0.0

    @abc.abstractmethod
    def check(self, response: Column) -> None: ...

    def parts(self, z: np.ndarray, y: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A party's Hessian X'WX and gradient X'(y - mu) at the linear predictor ``eta``."""
        mu = self.mean(eta)
        return (z * self.weights(mu)[:, None]).T @ z, z.T @ (y - mu)


class _Logit(_Family):
    name = "Logit"

    def mean(self, eta: np.ndarray) -> np.ndarray:
        return _expit(eta)

    def weights(self, mu: np.ndarray) -> np.ndarray:
        return mu * (1 - mu)

    def loglik(self, y: np.ndarray, eta: np.ndarray) -> float:
        p = _expit(eta)
        return float(np.sum(np.where(y == 1, np.log(p), np.log1p(-p))))

    def null_loglik(self, n: float, events: float, constant: float, *sums: float) -> float:
        share = events / n
        return float(_xlogy(events, share) + _xlogy(n - events, 1 - share))

    def check(self, response: Column) -> None:
        binary = response.kind == "bool" or (
            response.kind == "int" and (response.lo, response.hi) == (0, 1)
        )
        if not binary:
            raise ConfigurationError(f"the response {response.name!r} of a logit must be 0/1")


class _Poisson(_Family):
    name = "Poisson"

    def mean(self, eta: np.ndarray) -> np.ndarray:
        return np.exp(np.clip(eta, -50.0, 50.0))

    def weights(self, mu: np.ndarray) -> np.ndarray:
        return mu

    def loglik(self, y: np.ndarray, eta: np.ndarray) -> float:
        mu = self.mean(eta)
        return float(np.sum(y * np.log(mu) - mu) + np.sum(self.constant(y)))

    def constant(self, y: np.ndarray) -> np.ndarray:
        from scipy.special import gammaln

        return -gammaln(y + 1)

    def fixed_sums(self, z: np.ndarray, y: np.ndarray, eta: np.ndarray) -> tuple[Any, ...]:
        """As the base class, and sum(y log y - y) for the saturated model, sum(exp(offset))
        and sum(y * offset) for the null model with the offset."""
        return (
            *super().fixed_sums(z, y, eta),
            float(np.sum(_xlogy(y, y) - y)),
            float(np.sum(np.exp(eta))),
            float(np.dot(y, eta)),
        )

    def null_loglik(self, n: float, events: float, constant: float, *sums: float) -> float:
        """The intercept-only model: exp(b0) = sum(y) / sum(exp(offset)), in closed form."""
        _, exposure, y_offset = sums
        return float(_xlogy(events, events / exposure) + y_offset - events + constant)

    def saturated_loglik(self, constant: float, *sums: float) -> float:
        return sums[0] + constant

    def check(self, response: Column) -> None:
        if response.kind not in {"int", "bool"} or response.lo < 0:
            raise ConfigurationError(
                f"the response {response.name!r} of a Poisson model must be a count (int >= 0)"
            )


_LOGIT, _POISSON = _Logit(), _Poisson()


def _xlogy(x: Any, y: Any) -> Any:
    """x log(y), and 0 where x is 0 (as scipy.special.xlogy)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


_Block = tuple[np.ndarray, np.ndarray, np.ndarray]  # a block of rows: grid Z, y, offset


def _plus(a: Any, b: Any) -> Any:
    """a + b, elementwise for tuples."""
    return tuple(x + y for x, y in zip(a, b, strict=True)) if isinstance(a, tuple) else a + b


def _ols_fraction_bits(bounds: list[float]) -> tuple[int, int]:
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


_COUNT_MODULUS = 192  # counts of COUNT_BITS and comparisons with their security margin


def _round_up(bits: int) -> int:
    return int(math.ceil(bits / 64) * 64)
