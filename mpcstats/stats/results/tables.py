"""Results of counts, tables, moments and quantiles: suppressed values are NaN, and each
result says why in its notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mpcstats.stats.results.base import Result, excluded_line

__all__ = ["CountResult", "CrosstabResult", "DescribeResult", "HistogramResult", "QuantileResult"]


@dataclass
class CountResult(Result):
    """Record counts, overall or per group; ``counts`` is a Series (NaN where suppressed)."""

    counts: pd.Series
    k: int
    where: str | None = None
    notes: list[str] = field(default_factory=list)
    excluded: float = 0.0  # records left out for a missing value in ``by``

    @property
    def n(self) -> float:
        return float(self.counts.sum(min_count=1)) if self.counts.notna().all() else float("nan")

    def to_frame(self) -> pd.DataFrame:
        return self.counts.rename("count").to_frame()

    @property
    def title(self) -> str:
        return "Count" + (f" where {self.where}" if self.where else "")

    def _body(self) -> str:
        return self.to_frame().to_string() + excluded_line(self.excluded)

    def plot(self, ax: Any = None) -> Any:
        """A bar chart of the counts (suppressed bars are left out)."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots()[1]
        shown = self.counts.dropna()
        ax.bar([str(i) for i in shown.index], shown.to_numpy())
        ax.set_ylabel("count")
        return ax

    def __repr__(self) -> str:
        return f"CountResult(groups={len(self.counts)}, suppressed={int(self.counts.isna().sum())})"


@dataclass
class HistogramResult(Result):
    """Counts per bin of public ``edges`` (NaN where suppressed); with ``by``, ``counts`` has a
    row per level of ``by``."""

    counts: np.ndarray
    edges: np.ndarray
    column: str
    k: int
    notes: list[str] = field(default_factory=list)
    excluded: float = 0.0  # records left out for a missing value
    by: str | None = None
    levels: tuple[Any, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row per bin: its edges and its count (a count column per level with ``by``)."""
        frame = pd.DataFrame({"left": self.edges[:-1], "right": self.edges[1:]})
        if self.by is None:
            frame["count"] = self.counts
        else:
            for level, counts in zip(self.levels, self.counts, strict=True):
                frame[str(level)] = counts
        return frame

    @property
    def title(self) -> str:
        return f"Histogram of {self.column}"

    def _body(self) -> str:
        return self.to_frame().to_string() + excluded_line(self.excluded)

    def plot(self, ax: Any = None) -> Any:
        """Bars (suppressed bins marked "<k"), or with ``by`` one outline per level."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots()[1]
        if self.by is not None:
            for level, counts in zip(self.levels, self.counts, strict=True):
                ax.stairs(np.nan_to_num(counts, nan=0.0), self.edges, label=f"{self.by}={level}")
            ax.legend()
            ax.set_xlabel(self.column)
            ax.set_ylabel("count")
            return ax
        widths = np.diff(self.edges)
        heights = np.nan_to_num(self.counts, nan=0.0)
        ax.bar(self.edges[:-1], heights, width=widths, align="edge", edgecolor="black")
        for left, width, count in zip(self.edges[:-1], widths, self.counts, strict=True):
            if np.isnan(count):
                ax.text(left + width / 2, 0, "<k", ha="center", va="bottom", fontsize=8)
        ax.set_xlabel(self.column)
        ax.set_ylabel("count")
        return ax

    def __repr__(self) -> str:
        return f"HistogramResult(column={self.column!r}, bins={len(self.counts)})"


@dataclass
class CrosstabResult(Result):
    """A 2-way (or layered) table of counts; ``table`` has NaN in suppressed cells."""

    table: pd.DataFrame
    k: int
    notes: list[str] = field(default_factory=list)
    excluded: float = 0.0  # records left out for a missing value in a variable

    def to_frame(self) -> pd.DataFrame:
        return self.table

    @property
    def title(self) -> str:
        return "Crosstab"

    def _body(self) -> str:
        return self.table.to_string() + excluded_line(self.excluded)

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots()[1]
        self.table.plot.bar(ax=ax)
        ax.set_ylabel("count")
        return ax

    def __repr__(self) -> str:
        return f"CrosstabResult(shape={self.table.shape})"


@dataclass
class DescribeResult(Result):
    """n, mean, variance, standard deviation (and quartiles when asked), per group."""

    frame: pd.DataFrame  # one row per group: n, mean, var, std (+ quartiles)
    column: str
    excluded: float  # records left out because the column was missing
    notes: list[str] = field(default_factory=list)

    def _value(self, name: str) -> Any:
        values = self.frame[name]
        return float(values.iloc[0]) if len(values) == 1 else values

    @property
    def n(self) -> Any:
        return self._value("n")

    @property
    def mean(self) -> Any:
        return self._value("mean")

    @property
    def var(self) -> Any:
        return self._value("var")

    @property
    def std(self) -> Any:
        return self._value("std")

    def to_frame(self) -> pd.DataFrame:
        return self.frame

    @property
    def title(self) -> str:
        return f"Describe {self.column}"

    def _body(self) -> str:
        body = self.frame.to_string(float_format=lambda v: f"{v:.6g}")
        shown = (
            "suppressed (see the notes)" if self.excluded != self.excluded else f"{self.excluded:g}"
        )
        body += f"\n\nrecords excluded for missing {self.column}: {shown}"
        return body

    def __repr__(self) -> str:
        return f"DescribeResult(column={self.column!r}, groups={len(self.frame)})"


@dataclass
class QuantileResult(Result):
    """Exact quantiles of the pooled column (numpy's default 'linear' method)."""

    values: pd.Series | pd.DataFrame  # by q (NaN where suppressed); with by, a row per level
    column: str
    n: float | pd.Series  # with by, per level
    notes: list[str] = field(default_factory=list)
    excluded: float = 0.0  # records left out for a missing value

    def to_frame(self) -> pd.DataFrame:
        if isinstance(self.values, pd.DataFrame):
            return self.values.assign(n=self.n)
        return self.values.rename(self.column).to_frame()

    @property
    def title(self) -> str:
        return f"Quantiles of {self.column}"

    def _body(self) -> str:
        body = self.to_frame().to_string()
        if not isinstance(self.n, pd.Series):
            body += f"\n\nn = {self.n:g}"
        return body + excluded_line(self.excluded)

    def __repr__(self) -> str:
        return f"QuantileResult(column={self.column!r}, q={list(self.values.index)})"
