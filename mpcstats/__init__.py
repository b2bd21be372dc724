"""mpcstats: joint statistics across hospitals by secure multi-party computation."""

from mpcstats._errors import (
    ChannelClosedError,
    ConfigurationError,
    HeadroomError,
    InputRangeError,
    MpcStatsError,
    PartyUnavailableError,
    ProtocolError,
)
from mpcstats.simulator import LocalSimulator, RunResult

__version__ = "0.1.0"

__all__ = [
    "ChannelClosedError",
    "ConfigurationError",
    "HeadroomError",
    "InputRangeError",
    "LocalSimulator",
    "MpcStatsError",
    "PartyUnavailableError",
    "ProtocolError",
    "RunResult",
    "__version__",
]
