"""The mpcstats exception tree.

Every error mpcstats raises on purpose derives from :class:`MpcStatsError`, and also from the
builtin exception a caller would naturally catch::

    MpcStatsError
     ├── ConfigurationError (ValueError)    bad parameters: n, t, modulus, party ids, shapes
     │    ├── SchemaError                   data or schemas that do not match the study schema
     │    │    └── FilterError              a where= filter that does not parse
     │    ├── AuditError                    an audit log whose chain is broken
     │    ├── PolicyError                   an output the disclosure policy does not allow
     │    │    └── OverlapError             records too close to an earlier analysis' ones
     │    └── SingularMatrixError           a matrix to invert is singular (collinear model
     │                                      columns); only that fact is revealed
     ├── HeadroomError (OverflowError)      a declared range would not fit the field: refused
     │                                      before anything is computed or opened
     ├── InputRangeError (ValueError)       a party's input lies outside its declared range
     ├── ProtocolError (RuntimeError)       a protocol could not complete
     │    ├── PartyUnavailableError         a named peer stopped answering
     │    └── RequestMismatchError          the parties of a session received different
     │                                      requests: every party refuses it
     ├── ChannelClosedError (ConnectionError)  the channel of a session was closed
     └── AccessDeniedError (PermissionError)   a party refused this analyst or peer: foreign or
                                            missing certificate, or a name it does not admit

Messages name parties, columns, positions and limits; they never contain secret values.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AuditError",
    "ChannelClosedError",
    "ConfigurationError",
    "FilterError",
    "HeadroomError",
    "InputRangeError",
    "MpcStatsError",
    "OverlapError",
    "PartyUnavailableError",
    "PolicyError",
    "ProtocolError",
    "RequestMismatchError",
    "SchemaError",
    "SingularMatrixError",
]


class MpcStatsError(Exception):
    """Root of every error raised by mpcstats."""


class ConfigurationError(MpcStatsError, ValueError):
    """Invalid parameters for a session, field or protocol call."""


class SchemaError(ConfigurationError):
    """Data or schemas that do not match the study's schema; the message names the column."""


class FilterError(SchemaError):
    """A filter that does not parse or names an unknown column."""


class AuditError(ConfigurationError):
    """An audit log whose chain is broken; the message names the line."""


class PolicyError(ConfigurationError):
    """The disclosure policy does not allow this output."""


class OverlapError(PolicyError):
    """An analysis' records differ from an earlier analysis' by fewer than k: the two results
    together could reveal single patients (query-set overlap control). Every party reaches this
    verdict on its own, from the same opened gate."""


class SingularMatrixError(ConfigurationError):
    """A shared matrix to invert is singular, e.g. the X'X of a model with collinear columns."""


class HeadroomError(MpcStatsError, OverflowError):
    """A computation's declared value range does not fit the field with its security margin.

    Raised before the computation runs, so nothing is wrapped modulo p into a wrong answer.
    The remedy is a larger modulus (``modulus_bits=``) or narrower declared ranges.
    """


class InputRangeError(MpcStatsError, ValueError):
    """A party's input lies outside the range it was declared with."""


class ProtocolError(MpcStatsError, RuntimeError):
    """A protocol could not complete."""


class PartyUnavailableError(ProtocolError):
    """A peer did not answer in time or disconnected; ``party`` names it."""

    def __init__(self, party: int, detail: str = "", name: str = "") -> None:
        self.party, self.detail, self.name = party, detail, name
        who = f"party {party} ({name})" if name else f"party {party}"
        message = f"{who} is unavailable"
        super().__init__(f"{message}: {detail}" if detail else message)


class RequestMismatchError(ProtocolError):
    """The parties of a session received different analysis requests (their request digests
    differ), so every party refuses the session before it uses anything a peer sent.

    ``parties`` names the parties whose request differs from the reporting party's (empty
    when the error is rebuilt from a party's message at the analyst's client). The message
    holds names and digest prefixes, never data."""

    def __init__(self, message: str, parties: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.parties = parties


class ChannelClosedError(MpcStatsError, ConnectionError):
    """The channel of a session was closed while a protocol still needed it."""


class AccessDeniedError(MpcStatsError, PermissionError):
    """A party refused the connection: the certificate is foreign, missing, or names someone
    the party does not admit."""
