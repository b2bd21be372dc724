"""A study's disclosure policy: the rules every party enforces on what is released."""

from __future__ import annotations

from dataclasses import dataclass

from mpcstats._errors import PolicyError

__all__ = ["Policy"]


@dataclass(frozen=True)
class Policy:
    """Disclosure rules: minimum cell size ``k``, whether extremes may be released, the most
    model parameters per record and the most quantile levels in one call."""

    k: int = 5
    allow_extremes: bool = False
    max_parameter_fraction: float = 0.33  # parameters per record, as DataSHIELD's default
    max_quantile_levels: int = 9  # quantile levels in one call: many would release the records

    def __post_init__(self) -> None:
        if self.k < 1:
            raise PolicyError("the minimum cell size k is at least 1")
        if self.max_quantile_levels < 1:
            raise PolicyError("max_quantile_levels (quantile levels per call) is at least 1")
        # checked as a range, which NaN fails too: a request with a fraction of NaN, 0 or
        # below would break or void the model size guard at every party
        if not 0 < self.max_parameter_fraction <= 1:
            raise PolicyError(
                "max_parameter_fraction (parameters per record) lies in (0, 1], not "
                f"{self.max_parameter_fraction!r}"
            )
