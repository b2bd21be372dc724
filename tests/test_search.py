"""The oblivious search of pooled cumulative counts (mpcstats.protocols.search)."""

from __future__ import annotations

import numpy as np
import pytest

from mpcstats import protocols as P
from mpcstats.protocols.search import first_masks, search_digits, search_probes, smallest_above
from mpcstats.protocols.session import Session
from tests.parties import run

MODULUS = 192


@pytest.mark.parametrize("width", [3, 8, 11, 17])
def test_the_search_finds_the_smallest_value_above_each_threshold(width: int) -> None:
    rng = np.random.default_rng(width)
    size = 1 << width
    values = [rng.integers(0, size, n) for n in (20, 7, 33)]
    values[1][:4] = size - 1  # ties at the last grid value
    pooled = np.sort(np.concatenate(values))
    counts = np.searchsorted(pooled, np.arange(size), side="right")  # G(x)
    scale = 4
    thresholds = [0, 1, 3, 4 * len(pooled) // 2, 4 * len(pooled) - 1, 4 * len(pooled) + 5]
    digits = search_digits(width)
    probes = search_probes(digits)
    assert sum(digits) == width and max(digits) <= 8

    async def program(s: Session) -> np.ndarray | None:
        mine = np.sort(values[s.party])
        local = np.concatenate([np.searchsorted(mine, p.ravel(), side="right") for p in probes])
        parts = await P.input_all(s, local, bits=20)
        total = parts[0] + parts[1] + parts[2]
        tables, start = [], 0
        for p in probes:
            tables.append(total[start : start + p.size].reshape(*p.shape))
            start += p.size
        public = P.Shared(s.field, s.field.array(np.array(thresholds, dtype=object)), 20)
        masks = await first_masks(s, len(thresholds), digits, 30)
        found = await smallest_above(s, tables, digits, public * 1, scale, 30, ahead=masks)
        return await P.open(s, found)

    result = run(3, program, modulus_bits=MODULUS, record_openings=True)
    got = [int(v) for v in result.outputs[0]]
    for threshold, x in zip(thresholds, got, strict=True):
        above = np.nonzero(scale * counts > threshold)[0]
        assert x == (above[0] if len(above) else size - 1), threshold
    # besides the test's own opening of the result, only masked values and uniform bits
    labels = {o.label for stats in result.stats for o in stats.openings} - {"output"}
    assert labels == {"masked value (comparison)", "bit xor daBit (field conversion)"}
