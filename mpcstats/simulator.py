"""The in-process simulator: all parties as asyncio tasks over memory channels.

``LocalSimulator({"hosp_a": df_a, ...})`` is a study object (the analysis API of
:class:`~mpcstats.stats.study.Study`) over simulated hospitals; without an explicit schema it
infers one from the data, which only a simulation may do. With two hospitals a data-less helper
party makes the third compute party. ``LocalSimulator(n=3).run(program)`` is the low-level use:
run a secure program on every party and see its rounds and bytes.

An analysis binds its simulated parties to its request as daemons are bound (see
:mod:`mpcstats.request`): every party's session carries the digest of the call, and the
parties compare digests in their first all-to-all round. Every simulated party is handed the
same request, so the comparison always agrees here; it runs so that the simulator exercises
the daemons' code path and counts the same rounds. Bare programs run without a digest.

``transport="grpc"`` runs the same parties over the real transport instead of memory
channels: one :class:`~mpcstats.transport.grpc_channel.GrpcNetwork` per party on loopback,
with mutual TLS under a throwaway PKI made for the run, all in this process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from mpcstats._errors import ConfigurationError
from mpcstats.core.field import DEFAULT_MODULUS_BITS, PrimeField
from mpcstats.protocols.session import DEFAULT_KAPPA, Session, Stats
from mpcstats.request import AnalysisRequest
from mpcstats.stats.analysis import Analysis, Plan
from mpcstats.stats.disclosure import CohortRecord, bound, guarded
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Schema
from mpcstats.stats.study import Study
from mpcstats.stats.tables import SqlTable
from mpcstats.transport.channel import Channel
from mpcstats.transport.grpc_channel import GrpcNetwork
from mpcstats.transport.memory import MemoryNetwork
from mpcstats.transport.pki import create_ca, issue

__all__ = ["SCOPE", "LocalSimulator", "RunResult"]

T = TypeVar("T")

SCOPE = "simulation"  # the simulator's one analyst and dataset: its overlap control's scope


@dataclass(repr=False)
class RunResult:
    """What each party's program returned, and each party's communication."""

    outputs: list[Any]
    stats: list[Stats]
    t: int = 1
    output_degree: int = 2  # of the parties' output shares: 2t with PRSS, else t

    def __repr__(self) -> str:
        # the outputs are shares, never shown; asyncio also formats a finished task's result
        # into a discarded message at every asyncio.run, which cost milliseconds per call
        return (
            f"RunResult(parties={len(self.outputs)}, rounds={self.rounds}, "
            f"output_degree={self.output_degree})"
        )

    @property
    def rounds(self) -> int:
        return max(s.rounds for s in self.stats)

    @property
    def bytes_sent(self) -> int:
        """Bytes sent by the busiest party."""
        return max(s.bytes_sent for s in self.stats)


class LocalSimulator(Study):
    """Simulated hospitals (a study object), or n bare parties for secure programs.

    >>> study = LocalSimulator({"hosp_a": df_a, "hosp_b": df_b, "hosp_c": df_c})
    >>> study.describe("bmi", where="age >= 65").summary()

    Each hospital's frame stays with its party: only aggregates are secret-shared, and results
    are reconstructed from output shares at the analyst (this object).
    """

    def __init__(
        self,
        datasets: Mapping[str, pd.DataFrame | SqlTable | str | Path] | None = None,
        *,
        n: int | None = None,
        schema: Schema | None = None,
        policy: Policy | None = None,
        threshold: int | None = None,
        modulus_bits: int = DEFAULT_MODULUS_BITS,
        kappa: int = DEFAULT_KAPPA,
        record_openings: bool = False,
        timeout: float = 60.0,
        transport: str = "memory",
    ) -> None:
        if datasets is not None and not isinstance(datasets, Mapping):
            raise ConfigurationError(
                "LocalSimulator takes {hospital name: DataFrame or file path}; "
                "use LocalSimulator(n=...) for bare parties"
            )
        self.names = list(datasets or {})
        self.frames = [_load(name, source) for name, source in (datasets or {}).items()]
        if datasets is not None and len(self.frames) < 2:
            raise ConfigurationError("a study joins at least two hospitals")
        if transport not in {"memory", "grpc"}:
            raise ConfigurationError(f"transport is 'memory' or 'grpc', not {transport!r}")
        self.transport = transport
        self.n = n if n is not None else max(len(self.frames), 3)
        if self.n < len(self.frames):
            raise ConfigurationError(f"{len(self.frames)} hospitals need n >= {len(self.frames)}")
        if schema is None and any(isinstance(f, SqlTable) for f in self.frames):
            raise ConfigurationError(
                "a study with SQL tables needs schema=... (the data dictionary)"
            )
        self.schema = schema or (Schema.infer(self.frames) if self.frames else Schema())
        for name, frame in zip(self.names, self.frames, strict=True):
            if isinstance(frame, SqlTable):
                frame.check(self.schema, name)
            else:
                self.schema.check(frame, name)
        self.policy = policy or Policy()
        self.threshold = threshold
        self.modulus_bits = modulus_bits
        self.kappa = kappa
        self.record_openings = record_openings
        self.timeout = timeout
        self.last_run: RunResult | None = None
        # each party's record of the sets its analyses used (query-set overlap control)
        self.cohorts = [CohortRecord() for _ in range(self.n)]

    def __enter__(self) -> LocalSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.frames = []

    def __repr__(self) -> str:
        hospitals = f"hospitals={self.names}, " if self.names else ""
        return f"LocalSimulator({hospitals}n={self.n})"

    def _execute(self, analysis: Analysis, plan: Plan[Any]) -> tuple[list[dict[str, Any]], int]:
        checked = [
            guarded(plan.program, analysis, self.schema, self.policy, record, SCOPE)
            for record in self.cohorts
        ]

        def with_data(session: Session) -> Awaitable[Any]:
            frame = self.frames[session.party] if session.party < len(self.frames) else None
            return checked[session.party][0](session, frame)

        digest = bound(self._request(analysis).digest(), checked[0][1])
        self.last_run = _run_sync(
            lambda: self.run_async(
                with_data, modulus_bits=plan.modulus_bits, pooled_setup=True, request_digest=digest
            )
        )
        return self.last_run.outputs, self.last_run.output_degree

    def _request(self, analysis: Analysis) -> AnalysisRequest:
        """The request of ``analysis``, as a daemon would receive it."""
        return AnalysisRequest(
            session="simulation",
            analyst="",
            certificate="",
            dataset="",
            method=analysis.name,
            arguments_json=analysis.to_json(),
            k=self.policy.k,
            allow_extremes=self.policy.allow_extremes,
            max_parameter_fraction=self.policy.max_parameter_fraction,
            max_quantile_levels=self.policy.max_quantile_levels,
            schema_json=self.schema.to_json(),
        )

    async def run_async(
        self,
        program: Callable[[Session], Awaitable[Any]],
        *,
        modulus_bits: int | None = None,
        pooled_setup: bool = False,
        request_digest: bytes | None = None,
    ) -> RunResult:
        """Run ``program(session)`` on every party; a failure at one party stops them all.

        With ``pooled_setup`` the PRSS keys travel with the program's first pooling round, as
        in a daemon (statistics start by pooling); otherwise they take a round of their own.
        With ``request_digest`` every party's session is bound to it, as in a daemon."""
        bits = modulus_bits or self.modulus_bits
        opened = _memory_channels if self.transport == "memory" else _grpc_channels
        async with opened(self.n, self.timeout, PrimeField.with_bits(bits)) as channels:
            sessions = [
                Session(
                    i,
                    self.n,
                    channel,
                    threshold=self.threshold,
                    modulus_bits=bits,
                    kappa=self.kappa,
                    record_openings=self.record_openings,
                    request_digest=request_digest,
                )
                for i, channel in enumerate(channels)
            ]

            async def party(session: Session) -> Any:
                try:
                    if pooled_setup:
                        session.prepare_setup()
                    else:
                        await session.setup()
                    return await program(session)
                except BaseException as error:
                    with contextlib.suppress(Exception):  # tell the others, if still possible
                        await session.channel.close(
                            f"party {session.party} failed: {type(error).__name__}"
                        )
                    raise

            tasks = [asyncio.ensure_future(party(s)) for s in sessions]
            try:
                outputs = await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise _first_cause(tasks) from None
        return RunResult(
            list(outputs), [s.stats for s in sessions], sessions[0].t, sessions[0].output_degree
        )

    def run(self, program: Callable[[Session], Coroutine[Any, Any, T]]) -> RunResult:
        """Synchronous :meth:`run_async`; works inside a running event loop (Jupyter) too."""
        return _run_sync(lambda: self.run_async(program))


@contextlib.asynccontextmanager
async def _memory_channels(
    n: int, timeout: float, prime: PrimeField
) -> AsyncIterator[list[Channel]]:
    network = MemoryNetwork(n, timeout=timeout)
    yield [network.channel(i) for i in range(n)]


@contextlib.asynccontextmanager
async def _grpc_channels(n: int, timeout: float, prime: PrimeField) -> AsyncIterator[list[Channel]]:
    """One session's channels on n gRPC networks on loopback, linked with mutual TLS."""
    names = [f"party{i}" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="mpcstats-simulation-") as folder:
        ca = create_ca(Path(folder))
        networks = [
            GrpcNetwork(i, names, issue(ca, name), listen="127.0.0.1:0", timeout=timeout)
            for i, name in enumerate(names)
        ]
        try:
            ports = [await network.start() for network in networks]
            addresses = [f"127.0.0.1:{port}" for port in ports]
            await asyncio.gather(*(network.connect(addresses) for network in networks))
            yield [network.channel("simulation", prime) for network in networks]
        finally:
            await asyncio.gather(*(network.close() for network in networks))


def _run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code, even under a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def _load(name: str, source: pd.DataFrame | SqlTable | str | Path) -> pd.DataFrame | SqlTable:
    """A hospital's table from a DataFrame, a SQL table, a CSV or a Parquet file."""
    if isinstance(source, pd.DataFrame | SqlTable):
        return source
    path = Path(source)
    if not path.exists():
        raise ConfigurationError(f"{name}: no data file at {path}")
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _first_cause(tasks: Sequence[asyncio.Future[Any]]) -> BaseException:
    """The error that started a failure, not the channel closures it caused at other parties."""
    from mpcstats._errors import ChannelClosedError

    errors = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()]
    primary = [e for e in errors if not isinstance(e, ChannelClosedError)]
    chosen = (primary or errors or [RuntimeError("the simulation was cancelled")])[0]
    assert chosen is not None
    return chosen
