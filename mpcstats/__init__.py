"""mpcstats: joint statistics across hospitals by secure multi-party computation."""

from mpcstats import datasets
from mpcstats._errors import (
    AccessDeniedError,
    AuditError,
    ChannelClosedError,
    ConfigurationError,
    FilterError,
    HeadroomError,
    InputRangeError,
    MpcStatsError,
    OverlapError,
    PartyUnavailableError,
    PolicyError,
    ProtocolError,
    RequestMismatchError,
    SchemaError,
    SingularMatrixError,
)
from mpcstats.client import Federation, connect
from mpcstats.simulator import LocalSimulator, RunResult
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Column, Schema
from mpcstats.stats.tables import SqlTable

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "AuditError",
    "ChannelClosedError",
    "Column",
    "ConfigurationError",
    "Federation",
    "FilterError",
    "HeadroomError",
    "InputRangeError",
    "LocalSimulator",
    "MpcStatsError",
    "OverlapError",
    "PartyUnavailableError",
    "Policy",
    "PolicyError",
    "ProtocolError",
    "RequestMismatchError",
    "RunResult",
    "Schema",
    "SchemaError",
    "SingularMatrixError",
    "SqlTable",
    "__version__",
    "connect",
    "datasets",
]
