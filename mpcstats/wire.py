"""What the analyst's client and the party daemon both read off the wire, written once: the
metadata keys of a failed call, the mapping between mpcstats errors and gRPC status codes, and
the disclosure policy as a protobuf message.

A daemon ends a failed analysis with the status code of its error's class and names the class
in the trailing metadata; the client raises the same class with the party's message.
"""

from __future__ import annotations

import grpc

from mpcstats import _errors
from mpcstats._errors import (
    ChannelClosedError,
    ConfigurationError,
    HeadroomError,
    InputRangeError,
    MpcStatsError,
    PartyUnavailableError,
    PolicyError,
    RequestMismatchError,
    SchemaError,
)
from mpcstats.stats.policy import Policy
from mpcstats.transport._proto.v1 import analyst_pb2

__all__ = [
    "DETAIL_KEY",
    "ERRORS",
    "ERROR_KEY",
    "PARTY_KEY",
    "policy_from_message",
    "policy_message",
    "status_of",
]

ERROR_KEY = "mpcstats-error"  # trailing metadata: the mpcstats exception class of a failure
PARTY_KEY = "mpcstats-party"  # ... and for PartyUnavailableError, the missing party's index
DETAIL_KEY = "mpcstats-detail"  # ... and why it is missing

ERRORS: dict[str, type[MpcStatsError]] = {
    name: getattr(_errors, name) for name in _errors.__all__
}  # every class a party may name, by its name

_STATUS: list[tuple[type[BaseException], grpc.StatusCode]] = [  # most specific first
    (RequestMismatchError, grpc.StatusCode.FAILED_PRECONDITION),
    (SchemaError, grpc.StatusCode.FAILED_PRECONDITION),
    (PolicyError, grpc.StatusCode.PERMISSION_DENIED),
    (ConfigurationError, grpc.StatusCode.INVALID_ARGUMENT),
    (HeadroomError, grpc.StatusCode.OUT_OF_RANGE),
    (InputRangeError, grpc.StatusCode.OUT_OF_RANGE),
    (PartyUnavailableError, grpc.StatusCode.UNAVAILABLE),
    (ChannelClosedError, grpc.StatusCode.ABORTED),
    (MpcStatsError, grpc.StatusCode.INTERNAL),
]


def status_of(error: MpcStatsError) -> grpc.StatusCode:
    """The status code a party ends a call with when ``error`` stopped it."""
    return next(code for kind, code in _STATUS if isinstance(error, kind))


def policy_message(policy: Policy) -> analyst_pb2.Policy:
    return analyst_pb2.Policy(
        k=policy.k,
        allow_extremes=policy.allow_extremes,
        max_parameter_fraction=policy.max_parameter_fraction,
        max_quantile_levels=policy.max_quantile_levels,
    )


def policy_from_message(message: analyst_pb2.Policy) -> Policy:
    """The policy a message carries (validated: a PolicyError if it is out of range)."""
    return Policy(
        message.k,
        message.allow_extremes,
        message.max_parameter_fraction,
        message.max_quantile_levels,
    )
