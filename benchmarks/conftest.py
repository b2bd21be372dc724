"""Persistent clusters, so a benchmark times one call, not set-up: an in-process cluster of
sessions for protocols, and studies over simulated hospitals or over party daemons on loopback
(real processes, gRPC with mutual TLS) for statistics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import mpcstats
from mpcstats.protocols.session import Session
from mpcstats.stats.schema import Schema
from mpcstats.stats.study import Study
from mpcstats.testing.loopback import LoopbackFederation
from mpcstats.transport.memory import MemoryNetwork

TRANSPORTS = ["simulator", "grpc"]


def best_seconds(function: Callable[[], Any], repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs of a plaintext twin."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


class Cluster:
    """n sessions on one memory network, kept between benchmark rounds."""

    def __init__(self, n: int, modulus_bits: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.network = MemoryNetwork(n, timeout=600)
        self.sessions = [
            Session(i, n, self.network.channel(i), modulus_bits=modulus_bits) for i in range(n)
        ]
        self.run(lambda s: s.setup())

    def run(self, program: Callable[[Session], Awaitable[Any]]) -> list[Any]:
        async def everyone() -> list[Any]:
            return list(await asyncio.gather(*(program(s) for s in self.sessions)))

        return self.loop.run_until_complete(everyone())

    def measure(self, program: Callable[[Session], Awaitable[Any]]) -> dict[str, int]:
        """Rounds and bytes (busiest party) of one run of ``program``."""
        before = [s.stats.snapshot() for s in self.sessions]
        self.run(program)
        after = [s.stats.snapshot() for s in self.sessions]
        return {
            "rounds": max(a[0] - b[0] for a, b in zip(after, before, strict=True)),
            "bytes_per_party": max(a[1] - b[1] for a, b in zip(after, before, strict=True)),
        }

    def close(self) -> None:
        self.loop.close()


# (operation, size) -> seconds, filled by the benchmarks of one run; the summary divides them
MEASURED: dict[str, dict[tuple[str, int], float]] = {"mpcstats": {}, "mpyc": {}, "numpy": {}}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The table of ratios, all measured in this run: secure / numpy and MPyC / mpcstats."""
    ours = MEASURED["mpcstats"]
    if not ours:
        return
    write = terminalreporter.write_line
    write("")
    columns = "size   mpcstats s   elements/s   plain s   x plain   MPyC s   MPyC/ours"
    write(f"operation            {columns}")
    for (op, size), seconds in sorted(ours.items()):
        plain = MEASURED["numpy"].get((op, size))
        mpyc = MEASURED["mpyc"].get((op, size))
        write(
            f"{op:<16}{size:>9}{seconds:>13.4f}{size / seconds:>13.0f}"
            f"{(plain if plain else float('nan')):>10.4f}"
            f"{(seconds / plain if plain else float('nan')):>10.2f}"
            f"{(mpyc if mpyc else float('nan')):>9.3f}"
            f"{(mpyc / seconds if mpyc else float('nan')):>12.1f}"
        )


@pytest.fixture(scope="module")
def cluster_factory() -> Iterator[Callable[..., Cluster]]:
    made: dict[tuple[int, int], Cluster] = {}

    def make(n: int = 3, modulus_bits: int = 127) -> Cluster:
        if (n, modulus_bits) not in made:
            made[(n, modulus_bits)] = Cluster(n, modulus_bits)
        return made[(n, modulus_bits)]

    yield make
    for cluster in made.values():
        cluster.close()


class Studies:
    """Studies over the same hospitals, by transport; daemons stop when the module ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: dict[tuple[str, str], Study] = {}
        self.daemons: list[LoopbackFederation] = []

    def get(
        self, key: str, frames: dict[str, pd.DataFrame], schema: Schema, transport: str
    ) -> Study:
        if (key, transport) not in self.made:
            self.made[(key, transport)] = self._make(key, frames, schema, transport)
        return self.made[(key, transport)]

    def _make(
        self, key: str, frames: dict[str, pd.DataFrame], schema: Schema, transport: str
    ) -> Study:
        if transport == "simulator":
            return mpcstats.LocalSimulator(frames, schema=schema)
        daemons = LoopbackFederation(self.folder / key, frames, schema, timeout=120)
        daemons.start()
        self.daemons.append(daemons)
        return mpcstats.connect(**daemons.connect_kwargs(), timeout=120, progress=False)

    def close(self) -> None:
        for study in self.made.values():
            if isinstance(study, mpcstats.Federation):
                study.close()
        for daemons in self.daemons:
            daemons.stop()


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studies]:
    made = Studies(tmp_path_factory.mktemp("daemons"))
    yield made
    made.close()
