"""Query-set overlap control: two released analyses never differ by fewer than k records.

Differencing two allowed queries is the classic attack on aggregate releases: the mean BMI of
the patients over 40, minus that of the same patients but one, gives that one patient's BMI.
Every party therefore keeps, per analyst and dataset, the sets of its own records that earlier
analyses used (:class:`CohortRecord`; stored at the party, never sent). Before a new analysis
computes anything, each party counts, for each of the new analysis' record sets and each
recorded set of the same kind, the records of its own that lie in exactly one of the two;
the counts are pooled inside MPC and the analysis is refused if a pooled difference lies in
1..k-1. Only that verdict is opened, per pair (:func:`refuse_close_cohorts`).

An analysis uses two record sets: the records passing its filter (which its count of records
excluded for a missing value describes too) and those of them complete in its columns. A
record's identity is its row position in the party's table, or, with a declared key column,
the hash of its key, which stays valid when the table grows or is reloaded.

What this does not stop: combinations of three or more queries (A - B - C where every pair
differs by k or more), and an analyst who spreads queries over several identities or
datasets. Scenario approval and privacy budgets are the controls for those.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mpcstats._errors import ConfigurationError, OverlapError, PolicyError
from mpcstats.protocols.session import Session
from mpcstats.stats import filters
from mpcstats.stats.analysis import Analysis, Cohort, Program, Table
from mpcstats.stats.budget import COUNT_BITS
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Schema
from mpcstats.stats.secure import at_least_public, pool
from mpcstats.stats.tables import SqlTable

__all__ = ["MAX_COHORTS", "CohortRecord", "bound", "guarded"]

MAX_COHORTS = 4096  # recorded record sets per analyst and dataset
_KINDS = ("filter", "complete")  # an analysis' two sets, in the order of cohort_sets


def cohort_sets(table: Table, schema: Schema, cohort: Cohort, key: str | None) -> list[np.ndarray]:
    """This party's record ids (sorted uint64) passing the cohort's filter, and of those the
    ones complete in its columns; none at a data-less party. A frame's records are its rows,
    or with ``key`` the hashes of that column; a SQL table knows its own key."""
    if table is None:
        return [np.zeros(0, np.uint64), np.zeros(0, np.uint64)]
    condition = filters.parse(cohort.where, schema)
    if isinstance(table, SqlTable):
        return [table.record_ids(condition, needed) for needed in ((), cohort.needed)]
    passing = np.ones(len(table), bool) if condition is None else np.asarray(condition.mask(table))
    complete = passing & table[list(cohort.needed)].notna().all(axis=1).to_numpy()
    ids = _frame_ids(table, key)
    return [np.sort(ids[passing]), np.sort(ids[complete])]


def _frame_ids(frame: pd.DataFrame, key: str | None) -> np.ndarray:
    if key is None:
        return np.arange(len(frame), dtype=np.uint64)
    if key not in frame.columns:
        raise ConfigurationError(f"the key column {key!r} is missing from the table")
    return pd.util.hash_pandas_object(frame[key], index=False).to_numpy(np.uint64)


def _pairs(entries: list[_Entry]) -> list[tuple[int, int]]:
    """(new set, recorded set) of the same kind: a filter's records with a filter's, complete
    records with complete ones. Across kinds, the sets of one and the same filter differ by
    the records a missing value excluded, which the rule on ``excluded`` governs."""
    return [
        (kind, index)
        for kind in range(len(_KINDS))
        for index, entry in enumerate(entries)
        if entry.kind == _KINDS[kind]
    ]


def differences(
    new: list[np.ndarray], recorded: list[np.ndarray], pairs: list[tuple[int, int]]
) -> np.ndarray:
    """|a Δ b| for each pair of a new set a and a recorded set b."""
    return np.array(
        [np.setxor1d(new[i], recorded[j], assume_unique=True).size for i, j in pairs],
        dtype=np.int64,
    )


@dataclass
class _Entry:
    label: str  # the definition of the set: public, the same at every party
    packed: bytes  # the sorted ids, delta-encoded and compressed

    @property
    def kind(self) -> str:
        return _KINDS[1] if '"complete"' in self.label else _KINDS[0]

    def ids(self) -> np.ndarray:
        deltas = np.frombuffer(zlib.decompress(self.packed), dtype=np.uint64)
        return np.cumsum(deltas, dtype=np.uint64)


@dataclass
class CohortRecord:
    """One party's record of the sets its analysts' analyses used, per analyst and dataset;
    kept in ``folder`` (one file per analyst and dataset) if given, else in memory."""

    folder: Path | None = None
    _entries: dict[str, list[_Entry]] = field(default_factory=dict)

    def _file(self, scope: str) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / (hashlib.sha256(scope.encode()).hexdigest()[:32] + ".jsonl")

    def entries(self, scope: str) -> list[_Entry]:
        if scope not in self._entries:
            self._entries[scope] = self._load(scope)
        return self._entries[scope]

    def state(self, scope: str) -> bytes:
        """A digest of the labels of the sets recorded for ``scope``."""
        return _state(scope, self.entries(scope))

    def _load(self, scope: str) -> list[_Entry]:
        path = self._file(scope)
        if path is None or not path.exists():
            return []
        entries = []
        for line in path.read_text().splitlines():
            item = json.loads(line)
            entries.append(_Entry(item["label"], bytes.fromhex(item["ids"])))
        return entries

    def add(self, scope: str, labels: list[str], sets: list[np.ndarray]) -> None:
        """Record the sets not recorded yet (by label: a repeated analysis adds nothing)."""
        entries = self.entries(scope)
        known = {entry.label for entry in entries}
        added = []
        for label, ids in zip(labels, sets, strict=True):
            if label in known:
                continue
            if len(entries) >= MAX_COHORTS:
                raise PolicyError(
                    f"this analyst's record of released cohorts is full ({MAX_COHORTS} record "
                    "sets for this dataset): the party's operator must review it"
                )
            deltas = np.diff(ids, prepend=np.uint64(0)).astype(np.uint64)
            entry = _Entry(label, zlib.compress(deltas.tobytes()))
            entries.append(entry)
            known.add(label)
            added.append(entry)
        path = self._file(scope)
        if path is not None and added:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as out:
                for entry in added:
                    out.write(json.dumps({"label": entry.label, "ids": entry.packed.hex()}) + "\n")


def guarded(
    program: Program,
    analysis: Analysis,
    schema: Schema,
    policy: Policy,
    record: CohortRecord,
    scope: str,
    key: str | None = None,
) -> tuple[Program, bytes]:
    """``program`` behind the overlap check against the sets ``record`` holds for ``scope``
    now, and a digest of their labels, which every party's session must agree on (with the
    request digest) before the check: the parties compare the same recorded sets.

    The new sets are recorded once the parties agree on the request (their first all-to-all
    round has compared the digests): after the check passes, which every party learns alike,
    so an analysis that then fails stays recorded (the safe side); or, with nothing recorded
    yet, after the analysis, whose rounds bind the parties."""
    entries = list(record.entries(scope))
    pairs = _pairs(entries)
    state = _state(scope, entries)
    cohort = analysis.cohort(schema)

    async def checked(session: Session, table: Table) -> dict[str, Any]:
        sets = cohort_sets(table, schema, cohort, key)
        if not entries:
            outputs = await program(session, table)
            record.add(scope, labels(cohort), sets)
            return outputs
        found = differences(sets, [entry.ids() for entry in entries], pairs)
        compared = [entries[j].label for _, j in pairs]
        await refuse_close_cohorts(session, found, compared, policy.k)
        record.add(scope, labels(cohort), sets)
        return await program(session, table)

    return checked, state


def _state(scope: str, entries: list[_Entry]) -> bytes:
    listed = "\n".join(entry.label for entry in entries)
    return hashlib.sha256(f"{scope}\n{listed}".encode()).digest()


def bound(request_digest: bytes, state: bytes) -> bytes:
    """The digest a session binds its parties to: the request and the recorded sets."""
    return hashlib.sha256(request_digest + state).digest()


def labels(cohort: Cohort) -> list[str]:
    """The public definitions of an analysis' two record sets."""
    where = {"where": cohort.where}
    return [
        json.dumps(where, sort_keys=True),
        json.dumps({**where, "complete": sorted(cohort.needed)}, sort_keys=True),
    ]


async def refuse_close_cohorts(
    session: Session, differences_of_mine: np.ndarray, recorded: list[str], k: int
) -> None:
    """Refuse the analysis if a pooled difference lies in 1..k-1 (only that verdict, per
    pair, is opened): ``differences_of_mine`` holds this party's count for each pair of a new
    set and a recorded set, whose label is ``recorded``'s at the same position."""
    if k <= 1 or not len(differences_of_mine):
        return
    pooled = (await pool(session, differences_of_mine, COUNT_BITS)).with_bits(COUNT_BITS)
    # the gate (d - 1)(d - 2)...(d - k + 1) is zero exactly when d is in 1..k-1
    apart = await at_least_public(session, pooled - 1, k - 1, "cohort overlap")
    if not apart.all():
        close = sorted({recorded[i] for i in np.flatnonzero(~apart)})
        raise OverlapError(
            f"this analysis uses records that differ from those of an earlier analysis by "
            f"fewer than k = {k} (earlier: {', '.join(close)}): comparing the two results "
            "could reveal single patients; widen the difference or reuse the earlier cohort"
        )
