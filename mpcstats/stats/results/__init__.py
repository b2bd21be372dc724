"""Result objects: plain attributes, ``summary()``, ``to_frame()``, ``plot()`` and numbered notes.

Every result derives from :class:`~mpcstats.stats.results.base.Result`. Suppressed values are
NaN and each result says why in its notes. Results hold only what was released to the analyst,
so their reprs can never show a secret.
"""

from mpcstats.stats.results.base import Result
from mpcstats.stats.results.models import DiscreteResults, OLSResults, RegressionResults
from mpcstats.stats.results.tables import (
    CountResult,
    CrosstabResult,
    DescribeResult,
    HistogramResult,
    QuantileResult,
)
from mpcstats.stats.results.tests import (
    BlandAltmanResult,
    Chi2Result,
    CorrResult,
    MannWhitneyResult,
    MantelHaenszelResult,
    TTestResult,
)

__all__ = [
    "BlandAltmanResult",
    "Chi2Result",
    "CorrResult",
    "CountResult",
    "CrosstabResult",
    "DescribeResult",
    "DiscreteResults",
    "HistogramResult",
    "MannWhitneyResult",
    "MantelHaenszelResult",
    "OLSResults",
    "QuantileResult",
    "RegressionResults",
    "Result",
    "TTestResult",
]
