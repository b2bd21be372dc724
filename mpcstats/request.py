"""The request digest: what binds every party of a session to one and the same request.

Each party hashes the analysis request it received (SHA-256 of a canonical encoding) and the
parties compare their digests inside the session before any of them uses what a peer sent
(:class:`~mpcstats.protocols.session.Session`). A client that sends the parties different
requests under one session id (``where="age >= 0"`` to one hospital, ``where="age < 0"`` to
the others) would otherwise pool one hospital's aggregate with zeros and reveal it.

The encoding is canonical where the parties' interpretation is: the arguments and the schema
are parsed and dumped again with sorted keys and fixed separators, so key order and
whitespace do not change the digest, while anything a party would execute differently does.
Text that is not JSON is hashed as it is (the parties refuse it anyway, but the digest of
every request is defined, and the audit log can record it).

Leakage: none; the digest is a hash of the request, which every party sees in full.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from dataclasses import dataclass

__all__ = ["TAG", "AnalysisRequest", "certificate_fingerprint"]

TAG = "mpcstats.request.v1"  # the protocol and encoding version: a new encoding, a new tag


@dataclass(frozen=True)
class AnalysisRequest:
    """What one party was asked to compute, as it received it.

    ``session`` is the session key (the analyst's name and the session id it chose), and
    ``certificate`` the SHA-256 fingerprint of the analyst's certificate, or "" where the
    transport does not give it. The policy is kept as sent, unchecked: the digest is taken
    before a party validates the request, so that even a refused request is audited with it.
    """

    session: str
    analyst: str
    certificate: str
    dataset: str
    method: str
    arguments_json: str
    k: int
    allow_extremes: bool
    max_parameter_fraction: float
    max_quantile_levels: int
    schema_json: str

    def canonical(self) -> bytes:
        """The encoding that is hashed: JSON with sorted keys and no whitespace."""
        schema = hashlib.sha256(_canonical_json(self.schema_json).encode()).hexdigest()
        fields = {
            "tag": TAG,
            "session": self.session,
            "analyst": self.analyst,
            "certificate": self.certificate,
            "dataset": self.dataset,
            "method": self.method,
            "arguments": _canonical_json(self.arguments_json),
            "policy": {
                "k": self.k,
                "allow_extremes": self.allow_extremes,
                "max_parameter_fraction": self.max_parameter_fraction,
                "max_quantile_levels": self.max_quantile_levels,
            },
            "schema": schema,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> bytes:
        """SHA-256 of :meth:`canonical`: 32 bytes."""
        return hashlib.sha256(self.canonical()).digest()


def _canonical_json(text: str) -> str:
    """``text`` parsed and dumped with sorted keys and fixed separators, marked as such; text
    that does not parse (or nests too deeply to) is kept verbatim under another mark, so the
    two forms never collide."""
    try:
        value = json.loads(text)
        return "json:" + json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        return "text:" + text


def certificate_fingerprint(pem: bytes) -> str:
    """The SHA-256 fingerprint (hex) of a PEM certificate's DER encoding, which does not
    depend on how the PEM text is wrapped."""
    der = ssl.PEM_cert_to_DER_cert(pem.decode("ascii"))
    return hashlib.sha256(der).hexdigest()
