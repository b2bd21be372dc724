"""A secure program written once against a party's Session, run by the in-process simulator.

Three hospitals each hold the length of stay of their patients. They compute, without revealing
any hospital's data or totals: the pooled mean length of stay, how many stays exceed 14 days,
and the longest stay. Run: python examples/secure_program.py
"""

from __future__ import annotations

import numpy as np

from mpcstats import LocalSimulator
from mpcstats import protocols as P
from mpcstats.protocols import Session
from mpcstats.protocols import fixedpoint as fx

FRAC = 20
rng = np.random.default_rng(2026)
STAYS = [rng.poisson(6, size) + 1 for size in (1200, 800, 2000)]  # days, per hospital


async def study(s: Session) -> dict[str, float]:
    mine = STAYS[s.party]
    local = np.array([mine.size, mine.sum(), (mine > 14).sum()])
    parts = [await P.input(s, local if s.party == i else None, owner=i, bits=24) for i in range(3)]
    pooled = parts[0] + parts[1] + parts[2]  # local additions: no communication
    count, total, long_stays = pooled[0], pooled[1], pooled[2]
    mean = await fx.div(s, fx.rescale(total.reshape(1), FRAC), fx.rescale(count.reshape(1), FRAC))
    # the longest stay: each hospital inputs its own maximum, the parties compare securely
    maxima = [
        await P.input(s, np.array([mine.max()]) if s.party == i else None, owner=i, bits=12)
        for i in range(3)
    ]
    longest = await P.vector_max(s, P.concatenate(maxima))
    return {
        "mean stay": float((await P.open(s, mean))[0]),
        "stays > 14 days": float(await P.open(s, long_stays)),
        "longest stay": float(await P.open(s, longest)),
    }


if __name__ == "__main__":
    result = LocalSimulator(n=3, modulus_bits=192).run(study)
    pooled = np.concatenate(STAYS)
    plain = {
        "mean stay": pooled.mean(),
        "stays > 14 days": float((pooled > 14).sum()),
        "longest stay": float(pooled.max()),
    }
    for name, value in result.outputs[0].items():
        print(f"{name:<16} secure {value:12.6f}   plaintext {plain[name]:12.6f}")
    print(f"{result.rounds} rounds, {result.bytes_sent} bytes sent by the busiest party")
