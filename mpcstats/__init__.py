"""mpcstats: joint statistics across hospitals by secure multi-party computation."""

from mpcstats._errors import (
    AccessDeniedError,
    ChannelClosedError,
    ConfigurationError,
    HeadroomError,
    InputRangeError,
    MpcStatsError,
    PartyUnavailableError,
    ProtocolError,
    RequestMismatchError,
    SingularMatrixError,
)
from mpcstats.client import Federation, connect
from mpcstats.simulator import LocalSimulator, RunResult
from mpcstats.stats.filters import FilterError
from mpcstats.stats.schema import Column, Schema, SchemaError
from mpcstats.stats.study import Policy, PolicyError

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "ChannelClosedError",
    "Column",
    "ConfigurationError",
    "Federation",
    "FilterError",
    "HeadroomError",
    "InputRangeError",
    "LocalSimulator",
    "MpcStatsError",
    "PartyUnavailableError",
    "Policy",
    "PolicyError",
    "ProtocolError",
    "RequestMismatchError",
    "RunResult",
    "Schema",
    "SchemaError",
    "SingularMatrixError",
    "__version__",
    "connect",
]
