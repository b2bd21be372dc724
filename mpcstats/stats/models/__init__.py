"""Models over the pooled records: least squares and generalised linear models.

:mod:`.design` puts a formula's design on the grid and holds the guards every model passes;
:mod:`.ols` solves least squares exactly; :mod:`.families` and :mod:`.glm` fit logistic and
Poisson regressions by Newton's method.
"""

from mpcstats.stats.models.glm import Logit, Poisson
from mpcstats.stats.models.ols import OLS

__all__ = ["OLS", "Logit", "Poisson"]
