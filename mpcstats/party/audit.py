"""A party's audit log: one JSON record per line, chained by SHA-256 and signed by the party.

Every record carries ``prev`` (the previous record's hash), ``hash`` (SHA-256 of the previous
hash and the record's canonical JSON without ``hash`` and ``sig``) and ``sig`` (the party's
ECDSA P-256 signature over the hash, with the key of its TLS certificate). Deleting, reordering
or editing a record breaks the chain at that line, and a record rewritten without the party's
key fails its signature: :func:`verify` names the line.

The chain alone cannot stop the party's own operator, who holds the key, from rewriting the
log and signing it again. So the parties witness each other: at the end of every completed
session each party signs a :func:`statement` binding the session, the request digest and the
head of its own chain (its ``run`` record of the session), and every other party keeps it in a
``witness`` record. :func:`verify_federation` checks each statement against the signer's log:
a rewritten history no longer holds the record its owner once signed.

Records hold what was asked, by whom, under which policy and how it ended; never data values or
results. Leakage: the log is as sensitive as the queries analysts send (column names, filters);
it holds no share and no output.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mpcstats._errors import AuditError

__all__ = [
    "GENESIS",
    "MAX_ARGUMENTS",
    "AuditLog",
    "Head",
    "arguments",
    "concerns",
    "load_certificate",
    "load_certificates",
    "load_key",
    "owner",
    "statement",
    "verify",
    "verify_federation",
]

GENESIS = "0" * 64  # the ``prev`` of a log's first record
MAX_ARGUMENTS = 4096  # bytes of a request's arguments kept verbatim; larger ones by digest
_ECDSA = ec.ECDSA(hashes.SHA256())


class Head(NamedTuple):
    """A record's position in its log and its hash."""

    seq: int
    hash: str


def _digest(prev: str, record: Mapping[str, Any]) -> str:
    body = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def _signed(public_key: ec.EllipticCurvePublicKey, signature: str, message: bytes) -> bool:
    try:
        public_key.verify(bytes.fromhex(signature), message, _ECDSA)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def arguments(arguments_json: str) -> dict[str, str]:
    """A request's arguments for its record: verbatim up to :data:`MAX_ARGUMENTS` bytes, else
    their SHA-256, so one request cannot grow the log without bound (the request digest in
    the record covers them either way)."""
    if len(arguments_json.encode()) <= MAX_ARGUMENTS:
        return {"arguments": arguments_json}
    return {"arguments_sha256": hashlib.sha256(arguments_json.encode()).hexdigest()}


def statement(session: str, request: str, party: str, head: Head) -> bytes:
    """What ``party`` signs at the end of ``session``: the request digest, and the head of its
    chain (its ``run`` record of the session)."""
    fields = {"session": session, "request": request, "party": party, **head._asdict()}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def concerns(text: bytes, session: str, request: str, party: str) -> bool:
    """Whether ``text`` is a statement of ``party`` about ``session`` and ``request``."""
    try:
        signed = json.loads(text)
        head = Head(signed["seq"], signed["hash"])
    except (ValueError, KeyError, TypeError):
        return False
    typed = isinstance(head.seq, int) and isinstance(head.hash, str)
    return typed and text == statement(session, request, party, head)


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise AuditError(f"{path}: the audit log is signed with an ECDSA key, not {type(key)}")
    return key


def load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as error:
        raise AuditError(f"{path}: not a PEM certificate ({error})") from None


def load_certificates(folder: Path, parties: Sequence[str]) -> dict[str, x509.Certificate]:
    """``folder``/NAME.pem of each party, each issued by ``folder``/ca.pem and naming its
    party: a log verified against a stranger's certificate proves nothing."""
    ca = load_certificate(folder / "ca.pem")
    certificates = {}
    for party in parties:
        certificate = load_certificate(folder / f"{party}.pem")
        try:
            certificate.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            raise AuditError(f"{folder / party}.pem: not issued by {folder / 'ca.pem'}") from None
        names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        if [name.value for name in names] != [party]:
            raise AuditError(f"{folder / party}.pem: not {party}'s certificate")
        certificates[party] = certificate
    return certificates


class AuditLog:
    """Append-only, hash-chained, signed JSONL; continues the chain of an existing file once it
    verifies against ``key``'s public key (a daemon does not append to a forged log).

    :meth:`append` writes and fsyncs before it returns; :meth:`submit` hands the same work to
    one writer thread, in order, so a daemon's event loop keeps serving while the disk syncs
    (the daemon waits for a query's record before it releases any output).
    """

    def __init__(self, path: Path, key: ec.EllipticCurvePrivateKey) -> None:
        self.path, self._key = path, key
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        exists = path.exists()
        self._head = _check(path, key.public_key())[-1] if exists else Head(-1, GENESIS)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit")

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, _ECDSA)

    def submit(self, event: str, **details: Any) -> Future[Head]:
        """:meth:`append` on the writer thread, after every record submitted before."""
        return self._writer.submit(self.append, event, **details)

    def flush(self) -> None:
        """Wait until the records submitted so far are on disk."""
        self._writer.submit(lambda: None).result()

    def append(self, event: str, **details: Any) -> Head:
        """Write one record, signed, and flush it to disk; returns its position and hash."""
        with self._lock:
            seq, prev = self._head.seq + 1, self._head.hash
            record = {
                "seq": seq,
                "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
                "event": event,
                **details,
                "prev": prev,
            }
            digest = _digest(prev, record)
            record |= {"hash": digest, "sig": self.sign(digest.encode()).hex()}
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(record, sort_keys=True) + "\n")
                file.flush()
                os.fsync(file.fileno())
            self._head = Head(seq, digest)
            return self._head


def verify(path: Path, certificate: x509.Certificate) -> Head:
    """Check the chain and every record's signature against the party's ``certificate``;
    returns the last record's position and hash (seq -1 for an empty log) or raises
    AuditError naming the line."""
    return _check(path, _public_key(certificate))[-1]


def _public_key(certificate: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise AuditError(f"{certificate.subject.rfc4514_string()} has no ECDSA key")
    return key


def _check(path: Path, public_key: ec.EllipticCurvePublicKey) -> list[Head]:
    """The chain's heads, from (-1, GENESIS): record i is line i + 1 and has seq i."""
    heads = [Head(-1, GENESIS)]
    with path.open(encoding="utf-8") as file:
        for line_number, line in enumerate(file, start=1):
            try:
                record = json.loads(line)
                claimed, signature = record.pop("hash"), record.pop("sig")
            except (ValueError, KeyError, AttributeError):
                raise AuditError(f"{path}:{line_number}: not a signed audit record") from None
            last = heads[-1]
            if record.get("prev") != last.hash or record.get("seq") != last.seq + 1:
                raise AuditError(f"{path}:{line_number}: the chain breaks (a record is missing)")
            if _digest(last.hash, record) != claimed:
                raise AuditError(f"{path}:{line_number}: the record was altered")
            if not _signed(public_key, signature, claimed.encode()):
                raise AuditError(
                    f"{path}:{line_number}: the signature does not match the party's "
                    "certificate (the record was rewritten without its key)"
                )
            heads.append(Head(last.seq + 1, claimed))
    return heads


class _Log(NamedTuple):
    path: Path
    heads: list[Head]  # heads[i + 1] is record i's
    records: list[dict[str, Any]]


def verify_federation(
    paths: Sequence[Path], certificates: Mapping[str, x509.Certificate]
) -> dict[str, int]:
    """Check each log on its own (:func:`verify`), then every witness statement: signed by its
    signer's certificate, and the signer's log holds, at the witnessed seq, the witnessed hash
    on its ``run`` record of the witnessed session. Each log's party is the ``party`` of its
    first record. Returns the statements checked per witnessing party; raises AuditError
    naming the file, line and parties."""
    logs: dict[str, _Log] = {}
    for path in paths:
        party = owner(path)
        if party in logs:
            raise AuditError(f"{path}: a second log of {party} (the first is {logs[party].path})")
        if party not in certificates:
            raise AuditError(f"{path}: {party}'s log, but no certificate of {party}")
        heads = _check(path, _public_key(certificates[party]))
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        logs[party] = _Log(path, heads, records)
    checked = dict.fromkeys(logs, 0)
    for party, log in logs.items():
        for line_number, record in enumerate(log.records, start=1):
            if record.get("event") != "witness":
                continue
            where = f"{log.path}:{line_number}"
            statements = record.get("statements")
            if not isinstance(statements, dict) or not all(map(_is_entry, statements.values())):
                raise AuditError(f"{where}: a witness record without its statements")
            for signer, entry in statements.items():
                signed = _witnessed(where, signer, entry, certificates)
                _held(logs, signer, signed, f"{party}'s witness at {where}")
                checked[party] += 1
    return checked


def _is_entry(entry: object) -> bool:
    return isinstance(entry, dict) and all(
        isinstance(entry.get(k), str) for k in ("statement", "sig")
    )


def owner(path: Path) -> str:
    """The party whose log this is: the ``party`` of its first (``start``) record."""
    with path.open(encoding="utf-8") as file:
        first = file.readline()
    try:
        return str(json.loads(first)["party"])
    except (ValueError, KeyError, TypeError):
        raise AuditError(f"{path}:1: the log does not start with its party's name") from None


def _witnessed(
    where: str, signer: str, entry: Mapping[str, str], certificates: Mapping[str, x509.Certificate]
) -> dict[str, Any]:
    """The statement ``signer`` signed, once its signature is the signer's."""
    if signer not in certificates:
        raise AuditError(f"{where}: a statement of {signer}, who has no certificate here")
    text = entry["statement"].encode()
    if not _signed(_public_key(certificates[signer]), entry["sig"], text):
        raise AuditError(f"{where}: {signer}'s statement does not carry {signer}'s signature")
    try:  # signed, so a daemon's statement() unless the signer's daemon was modified
        statement: dict[str, Any] = json.loads(text)
        genuine = concerns(text, statement["session"], statement["request"], signer)
    except (ValueError, KeyError, TypeError):
        genuine = False
    if not genuine:
        raise AuditError(f"{where}: what {signer} signed is not its statement")
    return statement


def _held(logs: Mapping[str, _Log], signer: str, signed: Mapping[str, Any], witness: str) -> None:
    """Raise unless ``signer``'s log holds the record it signed, as the run of the session it
    signed for: else the log was truncated or rewritten, or the session left out of it."""
    if signer not in logs:
        raise AuditError(f"{witness} holds a statement of {signer}, whose log was not given")
    path, heads, records = logs[signer]
    seq = signed["seq"]
    if not 0 <= seq < len(records):
        raise AuditError(
            f"{path} ends at line {len(records)}, but {signer} signed its record {seq} "
            f"(line {seq + 1}), as {witness} shows: {signer}'s log was truncated"
        )
    if heads[seq + 1].hash != signed["hash"]:
        raise AuditError(
            f"{path}:{seq + 1}: not the record {signer} signed, as {witness} shows: "
            f"{signer}'s log was rewritten (a fork) at or before this line"
        )
    record = records[seq]
    session = (record.get("event"), record.get("session"), record.get("request"))
    if session != ("run", signed["session"], signed["request"]):
        raise AuditError(
            f"{path}:{seq + 1}: {signer} signed this record as its run of session "
            f"{signed['session']}, as {witness} shows, but it is not: the session is missing"
        )
