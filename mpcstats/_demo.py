"""``mpcstats demo``: a short secure computation on synthetic hospital data.

Each simulated hospital aggregates its own patients locally (count, sum, sum of squares, number
aged 65+), secret-shares only those aggregates, and the parties compute the pooled mean, standard
deviation and share of elderly patients securely; only the final numbers are opened. Every
result is printed beside the plaintext computation on the pooled data.
"""

from __future__ import annotations

import time

import numpy as np

from mpcstats import protocols as P
from mpcstats.protocols import fixedpoint as fx
from mpcstats.protocols.session import Session
from mpcstats.simulator import LocalSimulator

FRAC = 24


def _hospital_ages(hospitals: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(800, 5000, size=hospitals)
    return [
        np.clip(rng.normal(55 + 5 * i, 18, size=s), 0, 105).round() for i, s in enumerate(sizes)
    ]


async def _study(session: Session, ages: list[np.ndarray]) -> dict[str, float]:
    mine = ages[session.party]
    local = {  # (value, declared bits): what one hospital's aggregate can be at most
        "count": (mine.size, 24),
        "sum": (int(mine.sum()), 32),
        "squares": (int((mine**2).sum()), 40),
        "elderly": (int((mine >= 65).sum()), 24),
    }
    pooled = {}
    for name, (value, bits) in local.items():
        parts = [
            await P.input(session, [value] if session.party == i else None, owner=i, bits=bits)
            for i in range(session.n)
        ]
        pooled[name] = sum(parts[1:], parts[0])
    count, total_sum, total_sq, elderly = pooled.values()
    count_fx = fx.rescale(count, FRAC)
    age_bits = 7 + FRAC + 1  # the declared range of age is [0, 105]
    mean = (await fx.div(session, fx.rescale(total_sum, FRAC), count_fx)).with_bits(age_bits)
    mean_sq = await fx.div(session, fx.rescale(total_sq, FRAC), count_fx)
    variance = mean_sq.with_bits(2 * age_bits) - await fx.mul(session, mean, mean)
    sd = await fx.sqrt(session, variance.with_bits(2 * age_bits))
    share_elderly = await fx.div(session, fx.rescale(elderly, FRAC), count_fx)
    opened = {
        "patients": await P.open(session, count),
        "mean age": await P.open(session, mean),
        "sd of age": await P.open(session, sd),
        "share aged 65+": await P.open(session, share_elderly),
    }
    return {name: float(value[0]) for name, value in opened.items()}


def run_demo(hospitals: int = 3, seed: int = 7) -> int:
    ages = _hospital_ages(hospitals, seed)
    pooled = np.concatenate(ages)
    print(
        f"mpcstats demo: {hospitals} hospitals, {pooled.size} synthetic patients "
        f"({', '.join(str(a.size) for a in ages)}), simulated in this process"
    )
    started = time.perf_counter()
    result = LocalSimulator(n=hospitals, modulus_bits=256).run(lambda s: _study(s, ages))
    elapsed = time.perf_counter() - started
    plain = {
        "patients": float(pooled.size),
        "mean age": float(pooled.mean()),
        "sd of age": float(pooled.std()),
        "share aged 65+": float((pooled >= 65).mean()),
    }
    print(f"{'statistic':<16}{'secure':>16}{'plaintext':>16}")
    for name, value in result.outputs[0].items():
        print(f"{name:<16}{value:>16.6f}{plain[name]:>16.6f}")
    print(
        f"{result.rounds} rounds, {result.bytes_sent} bytes sent by the busiest party, "
        f"{elapsed:.2f} s; only the four results above were revealed"
    )
    worst = max(abs(result.outputs[0][k] - plain[k]) / max(abs(plain[k]), 1) for k in plain)
    return 0 if worst < 1e-5 else 1
