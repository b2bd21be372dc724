"""Secure protocols, written once against the abstract channel.

Every function takes the party's :class:`Session` first and is a coroutine when it communicates.
"""

from mpcstats.protocols.arithmetic import dot, matmul, mul, reduce_degree, square
from mpcstats.protocols.comparison import (
    ComparisonMasks,
    comparison_masks,
    eq,
    ge,
    gt,
    is_zero,
    le,
    lt,
    ltz,
    maximum,
    minimum,
    open_ltz,
    shift_right,
    vector_max,
    vector_min,
)
from mpcstats.protocols.masks import random_bits
from mpcstats.protocols.opening import open, open_to, output_share, reconstruct_output
from mpcstats.protocols.session import Session, Stats
from mpcstats.protocols.shared import Shared, concatenate
from mpcstats.protocols.sharing import input, input_all, random_field, random_integers

__all__ = [
    "ComparisonMasks",
    "Session",
    "Shared",
    "Stats",
    "comparison_masks",
    "concatenate",
    "dot",
    "eq",
    "ge",
    "gt",
    "input",
    "input_all",
    "is_zero",
    "le",
    "lt",
    "ltz",
    "matmul",
    "maximum",
    "minimum",
    "mul",
    "open",
    "open_ltz",
    "open_to",
    "output_share",
    "random_bits",
    "random_field",
    "random_integers",
    "reconstruct_output",
    "reduce_degree",
    "shift_right",
    "square",
    "vector_max",
    "vector_min",
]
