"""Bit budgets: how wide the pooled values may be, and how large a field each finish needs.

Every analysis sizes its prime field from these, so a finish never wraps modulo p; the
protocols' headroom checks (:class:`~mpcstats.HeadroomError`) refuse a field that is too small
before anything is computed.
"""

from __future__ import annotations

import math

__all__ = [
    "COUNT_BITS",
    "COUNT_FIELD",
    "DIVISION_MARGIN",
    "FRAC",
    "GATE_MARGIN",
    "GRID_FIELD",
    "PRODUCT_MARGIN",
    "WORK_FRAC",
    "field_bits",
]

COUNT_BITS = 34  # pooled counts up to 1.7e10 records
FRAC = 48  # fractional bits of the fixed-point finishes
WORK_FRAC = 80  # fractional bits of fixed-point inverses, whose noise the conditioning amplifies

GRID_FIELD = 127  # comparisons of counts and grid values: the 127-bit Mersenne prime
COUNT_FIELD = 192  # suppression: counts and their comparisons with the statistical margin
GATE_MARGIN = 64  # above the gated products of moments: the gate's random factor
PRODUCT_MARGIN = 120  # above exact secure products of counts: their masks and re-randomisation
DIVISION_MARGIN = 200  # above fixed-point operands: the working bits of division and sqrt


def field_bits(bits: int) -> int:
    """A field size of at least ``bits``, in whole 64-bit words (fields are tabulated so)."""
    return int(math.ceil(bits / 64) * 64)
