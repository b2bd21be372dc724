"""A party's audit log: one JSON record per line, each chained to the one before by SHA-256.

Every record carries ``prev`` (the previous record's hash) and ``hash`` (SHA-256 of the
previous hash and the record's canonical JSON without its hash), so deleting, reordering or
editing a record breaks the chain at that line: :func:`verify` names it. Records hold what was
asked, by whom, under which policy and how it ended; never data values or results.

Leakage: the log is as sensitive as the queries analysts send (column names, filters); it holds
no share and no output.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mpcstats._errors import AuditError

__all__ = ["GENESIS", "AuditLog", "verify"]

GENESIS = "0" * 64  # the ``prev`` of a log's first record


def _digest(prev: str, record: dict[str, Any]) -> str:
    body = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


class AuditLog:
    """Append-only, hash-chained JSONL; continues the chain of an existing file.

    :meth:`append` writes and fsyncs before it returns; :meth:`submit` hands the same work to
    one writer thread, in order, so a daemon's event loop keeps serving while the disk syncs
    (the daemon waits for a query's record before it releases any output).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._last, self._count = verify(path) if path.exists() else (GENESIS, 0)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit")

    def submit(self, event: str, **details: Any) -> Future[str]:
        """:meth:`append` on the writer thread, after every record submitted before."""
        return self._writer.submit(self.append, event, **details)

    def flush(self) -> None:
        """Wait until the records submitted so far are on disk."""
        self._writer.submit(lambda: None).result()

    def append(self, event: str, **details: Any) -> str:
        """Write one record and flush it to disk; returns its hash."""
        with self._lock:
            record = {
                "seq": self._count,
                "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
                "event": event,
                **details,
                "prev": self._last,
            }
            record["hash"] = _digest(self._last, record)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(record, sort_keys=True) + "\n")
                file.flush()
                os.fsync(file.fileno())
            self._last, self._count = record["hash"], self._count + 1
            return str(record["hash"])


def verify(path: Path) -> tuple[str, int]:
    """Check the whole chain; returns (last hash, number of records) or raises AuditError."""
    last, count = GENESIS, 0
    with path.open(encoding="utf-8") as file:
        for line_number, line in enumerate(file, start=1):
            try:
                record = json.loads(line)
                claimed = record.pop("hash")
            except (ValueError, KeyError, AttributeError):
                raise AuditError(f"{path}:{line_number}: not an audit record") from None
            if record.get("prev") != last or record.get("seq") != count:
                raise AuditError(f"{path}:{line_number}: the chain breaks (a record is missing)")
            if _digest(last, record) != claimed:
                raise AuditError(f"{path}:{line_number}: the record was altered")
            last, count = claimed, count + 1
    return last, count
