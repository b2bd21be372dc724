"""The analyst's client: ``mpcstats.connect(...)`` returns a study over a federation of party
daemons (:mod:`.federation`)."""

from mpcstats.client.federation import Federation, connect

__all__ = ["Federation", "connect"]
