"""Result objects: plain attributes, ``summary()``, ``to_frame()``, ``plot()`` and numbered notes.

Suppressed values are NaN and each result says why in its notes. Results hold only what was
released to the analyst, so their reprs can never show a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CountResult",
    "CrosstabResult",
    "DescribeResult",
    "HistogramResult",
    "QuantileResult",
]


def _notes_text(notes: list[str]) -> str:
    return "\n".join(f"[{i}] {note}" for i, note in enumerate(notes, 1))


def _summary(title: str, body: str, notes: list[str]) -> str:
    rule = "=" * max(len(title), 40)
    parts = [rule, title, rule, body]
    if notes:
        parts += ["", "Notes:", _notes_text(notes)]
    return "\n".join(parts)


@dataclass
class CountResult:
    """Record counts, overall or per group; ``counts`` is a Series (NaN where suppressed)."""

    counts: pd.Series
    k: int
    where: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> float:
        return float(self.counts.sum(min_count=1)) if self.counts.notna().all() else float("nan")

    def to_frame(self) -> pd.DataFrame:
        return self.counts.rename("count").to_frame()

    def summary(self) -> str:
        title = "Count" + (f" where {self.where}" if self.where else "")
        return _summary(title, self.to_frame().to_string(), self.notes)

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
class HistogramResult:
    """Counts per bin of public ``edges`` (NaN where suppressed)."""

    counts: np.ndarray
    edges: np.ndarray
    column: str
    k: int
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"left": self.edges[:-1], "right": self.edges[1:], "count": self.counts}
        )

    def summary(self) -> str:
        return _summary(f"Histogram of {self.column}", self.to_frame().to_string(), self.notes)

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots()[1]
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
class CrosstabResult:
    """A 2-way (or layered) table of counts; ``table`` has NaN in suppressed cells."""

    table: pd.DataFrame
    k: int
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def summary(self) -> str:
        return _summary("Crosstab", self.table.to_string(), self.notes)

    def plot(self, ax: Any = None) -> Any:
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots()[1]
        self.table.plot.bar(ax=ax)
        ax.set_ylabel("count")
        return ax

    def __repr__(self) -> str:
        return f"CrosstabResult(shape={self.table.shape})"


@dataclass
class DescribeResult:
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

    def summary(self) -> str:
        body = self.frame.to_string(float_format=lambda v: f"{v:.6g}")
        body += f"\n\nrecords excluded for missing {self.column}: {self.excluded:g}"
        return _summary(f"Describe {self.column}", body, self.notes)

    def __repr__(self) -> str:
        return f"DescribeResult(column={self.column!r}, groups={len(self.frame)})"


@dataclass
class QuantileResult:
    """Exact quantiles of the pooled column (numpy's default 'linear' method)."""

    values: pd.Series  # indexed by q (NaN where suppressed)
    column: str
    n: float
    notes: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        return self.values.rename(self.column).to_frame()

    def summary(self) -> str:
        body = self.to_frame().to_string() + f"\n\nn = {self.n:g}"
        return _summary(f"Quantiles of {self.column}", body, self.notes)

    def __repr__(self) -> str:
        return f"QuantileResult(column={self.column!r}, q={list(self.values.index)})"
