"""The in-process simulator: all parties as asyncio tasks over memory channels.

``LocalSimulator`` is the study object researchers use without a federation; this module also
gives its low-level use, running a secure program on every party and reporting rounds and bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mpcstats.core.field import DEFAULT_MODULUS_BITS
from mpcstats.protocols.session import DEFAULT_KAPPA, Session, Stats
from mpcstats.transport.memory import MemoryNetwork

__all__ = ["LocalSimulator", "RunResult"]

T = TypeVar("T")


@dataclass
class RunResult:
    """What each party's program returned, and each party's communication."""

    outputs: list[Any]
    stats: list[Stats]

    @property
    def rounds(self) -> int:
        return max(s.rounds for s in self.stats)

    @property
    def bytes_sent(self) -> int:
        """Bytes sent by the busiest party."""
        return max(s.bytes_sent for s in self.stats)


class LocalSimulator:
    """Run secure programs with n parties in this process.

    >>> sim = LocalSimulator(n=3)
    >>> async def program(s):
    ...     x = await protocols.input(s, [1, 2, 3] if s.party == 0 else None, owner=0, bits=8)
    ...     return await protocols.open(s, x)
    >>> sim.run(program).outputs[0]
    """

    def __init__(
        self,
        n: int = 3,
        *,
        threshold: int | None = None,
        modulus_bits: int = DEFAULT_MODULUS_BITS,
        kappa: int = DEFAULT_KAPPA,
        record_openings: bool = False,
        timeout: float = 60.0,
    ) -> None:
        self.n = n
        self.threshold = threshold
        self.modulus_bits = modulus_bits
        self.kappa = kappa
        self.record_openings = record_openings
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"LocalSimulator(n={self.n}, modulus_bits={self.modulus_bits})"

    async def run_async(self, program: Callable[[Session], Awaitable[Any]]) -> RunResult:
        """Run ``program(session)`` on every party; a failure at one party stops them all."""
        network = MemoryNetwork(self.n, timeout=self.timeout)
        sessions = [
            Session(
                i,
                self.n,
                network.channel(i),
                threshold=self.threshold,
                modulus_bits=self.modulus_bits,
                kappa=self.kappa,
                record_openings=self.record_openings,
            )
            for i in range(self.n)
        ]

        async def party(session: Session) -> Any:
            try:
                await session.setup()
                return await program(session)
            except BaseException as error:
                network.close(f"party {session.party} failed: {type(error).__name__}")
                raise

        tasks = [asyncio.ensure_future(party(s)) for s in sessions]
        try:
            outputs = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise _first_cause(tasks) from None
        return RunResult(list(outputs), [s.stats for s in sessions])

    def run(self, program: Callable[[Session], Coroutine[Any, Any, T]]) -> RunResult:
        """Synchronous :meth:`run_async` (for scripts and tests)."""
        return asyncio.run(self.run_async(program))


def _first_cause(tasks: Sequence[asyncio.Future[Any]]) -> BaseException:
    """The error that started a failure, not the channel closures it caused at other parties."""
    from mpcstats._errors import ChannelClosedError

    errors = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()]
    primary = [e for e in errors if not isinstance(e, ChannelClosedError)]
    chosen = (primary or errors or [RuntimeError("the simulation was cancelled")])[0]
    assert chosen is not None
    return chosen
