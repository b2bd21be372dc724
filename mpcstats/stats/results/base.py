"""The base of every result: plain attributes, ``notes``, ``summary()`` and ``to_frame()``.

One printer (:func:`summary_text`) lays out every summary: a title between rules, the body,
then the numbered notes. Results hold only what was released to the analyst, so their reprs
can never show a secret.
"""

from __future__ import annotations

import abc

import pandas as pd

__all__ = ["Result", "excluded_line", "summary_text"]


class Result(abc.ABC):
    """A released result. Subclasses are dataclasses with a ``notes`` field: what the analyst
    should know (suppression, approximations, what the parties learned)."""

    notes: list[str]

    @property
    @abc.abstractmethod
    def title(self) -> str:
        """The summary's heading."""

    @abc.abstractmethod
    def _body(self) -> str:
        """The summary's text between the heading and the notes."""

    @abc.abstractmethod
    def to_frame(self) -> pd.DataFrame:
        """The result as a table."""

    def summary(self) -> str:
        return summary_text(self.title, self._body(), self.notes)

    def __str__(self) -> str:
        return self.summary()


def summary_text(title: str, body: str, notes: list[str]) -> str:
    rule = "=" * max(len(title), 40)
    parts = [rule, title, rule, body]
    if notes:
        parts += ["", "Notes:", "\n".join(f"[{i}] {note}" for i, note in enumerate(notes, 1))]
    return "\n".join(parts)


def excluded_line(count: float) -> str:
    """The summary line of records left out for a missing value (none: no line; NaN: the
    count was suppressed)."""
    if count != count:  # NaN
        return "\n\nrecords excluded for a missing value: suppressed (see the notes)"
    return f"\n\nrecords excluded for a missing value: {count:g}" if count else ""
