"""The party daemon: ``mpcstats party serve --config party.toml``.

One process per hospital (or data-less helper). One gRPC server with mutual TLS hosts

- ``mpcstats.v1.PeerExchange``: the share streams between parties (:mod:`mpcstats.transport`);
- ``mpcstats.v1.Analyst``: analysts named in the configuration describe the party and run
  analyses; the party answers with its output shares only;
- ``grpc.health.v1.Health``: SERVING while the daemon accepts analyses.

An analysis request names an analysis (:mod:`mpcstats.stats.analysis`) and its arguments. The
daemon rebuilds the analysis, plans it against the request's schema and policy (the same checks
the analyst's client ran), and runs the plan's secure program as its party of the session (the
session id the analyst chose, in the analyst's own namespace) over its own table. Every party
derives the same program from the same request, so the parties compute in step; validation
(schema, policy, filter) happens before the party joins the session.

Nothing obliges a client to send every party the same request, so the parties check it: each
hashes the request it received (:mod:`mpcstats.request`), the session carries the digest in
its first all-to-all round, and every party refuses the session with
:class:`~mpcstats.RequestMismatchError` (FAILED_PRECONDITION) if any peer's digest differs,
before it uses anything a peer sent. The digest is in the run's audit records.

Every audit record is signed with the party's TLS key (:mod:`mpcstats.party.audit`). After a
session's program completes, and before its output is released, the parties witness each
other's logs in one more all-to-all round: each sends every peer its signed statement of the
session, the request digest and its own ``run`` record's seq and hash, and keeps the peers'
statements in a ``witness`` record.

Leakage: a party sees the request (method, columns, filters, policy) and what the protocol
opens to all parties (documented per analysis); it never sees a result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
import traceback
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import grpc
import numpy as np
import pandas as pd
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from mpcstats._errors import (
    AccessDeniedError,
    ChannelClosedError,
    ConfigurationError,
    MpcStatsError,
    OverlapError,
    PartyUnavailableError,
    PolicyError,
    ProtocolError,
    RequestMismatchError,
    SchemaError,
)
from mpcstats.core.field import PrimeField
from mpcstats.party import audit
from mpcstats.party.audit import AuditLog, Head
from mpcstats.party.config import PartyConfig
from mpcstats.protocols.session import Session
from mpcstats.request import AnalysisRequest, certificate_fingerprint
from mpcstats.stats.analysis import PUBLIC, Program, from_request
from mpcstats.stats.disclosure import CohortRecord, bound, guarded
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Schema
from mpcstats.stats.staging import stage
from mpcstats.stats.tables import SqlTable
from mpcstats.transport._proto.v1 import analyst_pb2, analyst_pb2_grpc
from mpcstats.transport.grpc_channel import GrpcNetwork, encode_tensor
from mpcstats.wire import (
    DETAIL_KEY,
    ERROR_KEY,
    PARTY_KEY,
    policy_from_message,
    policy_message,
    status_of,
)

__all__ = ["PartyDaemon", "serve"]

log = logging.getLogger("mpcstats.party.daemon")

_PROGRESS_INTERVAL = 0.5
_RELINK_INTERVAL = 2.0
_ABORT_GRACE = 1.0  # how long aborted sessions get to report their reason at shutdown

# A request mismatch is FAILED_PRECONDITION, not PERMISSION_DENIED: this party's request is
# valid and the analyst may make it; what fails is the precondition of any joint computation,
# that every party holds the same request. A party cannot tell a hostile client from a broken
# one, and a client that falls back on the status alone reads PERMISSION_DENIED as a refused
# certificate. Retrying does not help until the client sends every party one request.


def _check_policy(requested: Policy, own: Policy, party: str) -> None:
    """Refuse a request less strict than this party's own rules."""
    looser = []
    if requested.k < own.k:
        looser.append(f"k = {requested.k} < {own.k}")
    if requested.allow_extremes and not own.allow_extremes:
        looser.append("extremes allowed, which it forbids")
    if requested.max_parameter_fraction > own.max_parameter_fraction:
        looser.append(
            f"max_parameter_fraction = {requested.max_parameter_fraction} "
            f"> {own.max_parameter_fraction}"
        )
    if requested.max_quantile_levels > own.max_quantile_levels:
        looser.append(
            f"max_quantile_levels = {requested.max_quantile_levels} > {own.max_quantile_levels}"
        )
    if looser:
        raise PolicyError(f"the request is less strict than {party}'s policy: {'; '.join(looser)}")


# the daemon -----------------------------------------------------------------------------------
@dataclass
class _Run:
    """A session in progress at this party."""

    key: str
    task: asyncio.Task[dict[str, Any]]
    session: Session


class PartyDaemon(analyst_pb2_grpc.AnalystServicer):
    """One party's service: start, serve analyses, stop."""

    def __init__(self, config: PartyConfig) -> None:
        self.config = config
        self.name, self.index = config.name, config.index
        self.tables = {
            name: _load_table(config.name, name, dataset.source, dataset.schema)
            for name, dataset in config.datasets.items()
        }
        self.audit = AuditLog(config.audit_path, audit.load_key(config.identity.key))
        # the sets of its records each analyst's analyses used: kept beside the audit log
        self.cohorts = CohortRecord(config.audit_path.parent / "cohorts")
        self.network = GrpcNetwork(
            self.index,
            config.parties,
            config.identity,
            listen=config.listen,
            timeout=config.timeout,
            limits=config.limits,
        )
        self.health = HealthServicer()
        self.runs: dict[str, _Run] = {}
        self._analysing: set[str] = set()  # scopes (analyst/dataset) with a session running
        self.port = 0
        self._accepting = False
        self._relinker: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"PartyDaemon({self.name!r}, port={self.port})"

    # lifecycle --------------------------------------------------------------------------------
    async def start(self) -> int:
        """Serve; link to the peers in the background (they may start later). Returns the port."""
        self.port = await self.network.start(services=[self._add_analyst, self._add_health])
        self._accepting = True
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        self._relinker = asyncio.ensure_future(self._relink())
        self.audit.append("start", party=self.name, datasets=sorted(self.tables))
        log.info("serving", extra={"party": self.name, "port": self.port})
        return self.port

    def _add_analyst(self, server: grpc.aio.Server) -> None:
        analyst_pb2_grpc.add_AnalystServicer_to_server(self, server)

    def _add_health(self, server: grpc.aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)

    async def _relink(self) -> None:
        """Keep links to every peer: re-dial peers that restarted, without waiting for a query."""
        while True:
            with contextlib.suppress(PartyUnavailableError):
                await self.network.connect(self.config.addresses)
            await asyncio.sleep(_RELINK_INTERVAL)

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new analyses, let running sessions finish for ``grace`` seconds, abort the
        rest (their peers learn why), say Goodbye to the peers and stop serving."""
        grace = self.config.shutdown_grace if grace is None else grace
        self._accepting = False
        if self._relinker is not None:  # peers are leaving too: do not dial them again
            self._relinker.cancel()
            await asyncio.gather(self._relinker, return_exceptions=True)
        await self.health.enter_graceful_shutdown()
        running = [run.task for run in self.runs.values()]
        if running:
            log.info("waiting for sessions", extra={"party": self.name, "sessions": len(running)})
            await asyncio.wait(running, timeout=grace)
        # abort the rest with a reason: the peers and every analyst are told why
        reason = f"{self.name} is shutting down"
        for run in list(self.runs.values()):
            if not run.task.done():
                with contextlib.suppress(MpcStatsError):
                    await run.session.channel.close(reason)
        if running:
            await asyncio.wait(running, timeout=_ABORT_GRACE)
        for run in list(self.runs.values()):
            run.task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await self.network.close()
        self.audit.submit("stop", party=self.name, aborted=sum(not t.done() for t in running))
        self.audit.flush()
        log.info("stopped", extra={"party": self.name})

    # Analyst service --------------------------------------------------------------------------
    async def Describe(  # noqa: N802 - the RPC's name in the proto
        self, request: analyst_pb2.DescribeRequest, context: grpc.aio.ServicerContext
    ) -> analyst_pb2.PartyInfo:
        await self._analyst(context)
        from mpcstats import __version__

        datasets = [
            analyst_pb2.Dataset(name=name, schema_json=dataset.schema.to_json())
            for name, dataset in self.config.datasets.items()
        ]
        return analyst_pb2.PartyInfo(
            party=self.name,
            index=self.index,
            parties=self.config.parties,
            helper=self.config.helper,
            datasets=datasets,
            policy=policy_message(self.config.policy),
            version=__version__,
        )

    async def Run(  # noqa: N802 - the RPC's name in the proto
        self, request: analyst_pb2.RunRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[analyst_pb2.RunUpdate]:
        analyst = await self._analyst(context)
        key = f"{analyst}/{request.session_id}"
        digest = _request(request, key, analyst, _certificate(context)).digest()
        query = {
            "session": key,
            "dataset": request.dataset,
            "method": request.method,
            "request": digest.hex(),
        }
        # the record syncs to disk while the session computes, and before anything is released
        logged = self.audit.submit(
            "run", analyst=analyst, **audit.arguments(request.arguments_json), **query
        )
        started = time.perf_counter()
        ended: BaseException | None = ChannelClosedError("the analyst cancelled")
        try:
            async for update in self._run(key, request, digest, logged):
                if update.HasField("output"):
                    await asyncio.wrap_future(logged)
                    ended = None  # released: the analyst ends the call once it has every output
                yield update
        except MpcStatsError as error:
            ended = error
            await _abort(context, self.name, error)
        except Exception as error:  # a bug: report where, not the message, which could hold data
            where = [
                f"{f.filename}:{f.lineno} {f.name}"
                for f in traceback.extract_tb(error.__traceback__)
            ]
            log.error(
                "internal error",
                extra={**query, "party": self.name, "error": type(error).__name__, "where": where},
            )
            ended = error
            await _abort(
                context, self.name, ProtocolError(f"internal error ({type(error).__name__})")
            )
        finally:  # also when grpc closes the generator because the analyst ended the call
            self._finish(query, started, ended)

    def _finish(self, query: dict[str, str], started: float, error: BaseException | None) -> None:
        outcome = "ok" if error is None else type(error).__name__
        seconds = round(time.perf_counter() - started, 3)
        differing = (
            {"differing": list(error.parties)} if isinstance(error, RequestMismatchError) else {}
        )
        self.audit.submit("end", outcome=outcome, seconds=seconds, **differing, **query)
        details = {**query, **differing, "outcome": outcome, "seconds": seconds, "party": self.name}
        (log.info if error is None else log.warning)("analysis ended", extra=details)

    async def _run(
        self, key: str, request: analyst_pb2.RunRequest, digest: bytes, logged: Future[Head]
    ) -> AsyncIterator[analyst_pb2.RunUpdate]:
        if not self._accepting:
            raise ChannelClosedError(f"{self.name} is shutting down")
        table = self._table(request)
        schema = Schema.from_json(request.schema_json, "the request's schema")
        self._check_schema(request.dataset, schema)
        requested = policy_from_message(request.policy)
        _check_policy(requested, self.config.policy, self.name)
        analysis = from_request(request.method, request.arguments_json)
        plan = analysis.plan(schema, requested)
        scope = f"{key.split('/', 1)[0]}/{request.dataset}"  # the analyst, and the dataset
        if scope in self._analysing:  # its overlap check would not see the running one's sets
            raise PolicyError(
                f"{self.name}: an analysis of {scope} is already running; the analyses of one "
                "analyst on one dataset run one after another"
            )
        self._analysing.add(scope)
        try:
            program, state = guarded(
                plan.program,
                analysis,
                schema,
                requested,
                self.cohorts,
                scope,
                self._key(request.dataset),
            )
            program = self._witnessed(program, key, digest.hex(), logged)
            session = await self._session(key, plan.modulus_bits, bound(digest, state))
            async for update in self._follow(key, session, program, table, plan.modulus_bits):
                yield update
        finally:
            self._analysing.discard(scope)

    async def _session(self, key: str, modulus_bits: int, digest: bytes) -> Session:
        """This party's side of session ``key``, bound to the request ``digest``."""
        await self.network.connect(self.config.addresses)
        field = PrimeField.with_bits(modulus_bits)
        return Session(
            self.index,
            len(self.config.parties),
            self.network.channel(key, field),
            modulus=field.order,
            request_digest=digest,
            names=self.config.parties,
        )

    async def _follow(
        self,
        key: str,
        session: Session,
        program: Program,
        table: pd.DataFrame | SqlTable | None,
        modulus_bits: int,
    ) -> AsyncIterator[analyst_pb2.RunUpdate]:
        """Run ``program`` in ``session``: progress while it runs, then this party's output."""
        run = _Run(key, asyncio.ensure_future(self._compute(session, program, table)), session)
        self.runs[key] = run
        try:
            while not run.task.done():
                await asyncio.wait([run.task], timeout=_PROGRESS_INTERVAL)
                if not run.task.done():
                    yield analyst_pb2.RunUpdate(progress=_progress(session))
            yield analyst_pb2.RunUpdate(output=_output(session, run.task.result(), modulus_bits))
        finally:
            del self.runs[key]
            if not run.task.done():  # the analyst cancelled, or the daemon is stopping
                run.task.cancel()
                await asyncio.gather(run.task, return_exceptions=True)
                with contextlib.suppress(MpcStatsError):
                    await asyncio.shield(session.channel.close(f"{self.name} stopped the session"))

    def _witnessed(self, program: Program, key: str, request: str, logged: Future[Head]) -> Program:
        """``program``, then the witness round; the output waits for the witness record."""

        async def run(session: Session, table: pd.DataFrame | SqlTable | None) -> dict[str, Any]:
            outputs = await program(session, table)
            await self._witness(session, key, request, await asyncio.wrap_future(logged))
            return outputs

        return run

    async def _witness(self, session: Session, key: str, request: str, head: Head) -> None:
        """Send every peer this party's signed statement of the session and of its ``run``
        record ``head``; log theirs. A peer's statement must name this session, this request
        and the peer; its signature is checked by ``mpcstats audit verify``, which holds
        every party's certificate (a daemon holds only its own)."""
        mine = audit.statement(key, request, self.name, head)
        payload = [np.frombuffer(mine, np.uint8), np.frombuffer(self.audit.sign(mine), np.uint8)]
        peers = [j for j in range(session.n) if j != self.index]
        received = await session.exchange(
            dict.fromkeys(peers, payload), range(session.n), all_to_all=True
        )
        statements = {}
        for j, payload in sorted(received.items()):
            name, text = self.config.parties[j], payload[0].tobytes()
            if len(payload) != 2 or not audit.concerns(text, key, request, name):
                raise ProtocolError(f"{name}'s witness statement is not of this session")
            statements[name] = {"statement": text.decode(), "sig": payload[1].tobytes().hex()}
        witnessed = self.audit.submit(
            "witness", session=key, request=request, statements=statements
        )
        await asyncio.wrap_future(witnessed)

    async def _compute(
        self, session: Session, program: Program, table: pd.DataFrame | SqlTable | None
    ) -> dict[str, Any]:
        """Run the party's side of the session; on failure tell the peers at once, unless the
        failure is that a peer stopped the session: it told every party why, and an abort from
        here could reach a third party first and hide that reason. Nor after a request
        mismatch or an overlap refusal: every party finds it from the digests it holds or the
        verdict opened to all, and an abort from here would drop messages a slower party has
        yet to read, leaving it no evidence."""
        try:
            session.prepare_setup()  # the keys travel with the program's first pooling round
            return await program(session, table)
        except (ChannelClosedError, RequestMismatchError, OverlapError):
            raise
        except MpcStatsError as error:
            with contextlib.suppress(MpcStatsError):
                await session.channel.close(f"{self.name} failed: {type(error).__name__}")
            raise

    def _key(self, dataset: str) -> str | None:
        """The dataset's declared key column, if any (a helper has none)."""
        if self.config.helper:
            return None
        key = self.config.datasets[dataset].source.get("key")
        return key if isinstance(key, str) else None

    def _table(self, request: analyst_pb2.RunRequest) -> pd.DataFrame | SqlTable | None:
        if self.config.helper:
            return None
        if request.dataset not in self.tables:
            raise ConfigurationError(
                f"{self.name} has no dataset {request.dataset!r}; it has {sorted(self.tables)}"
            )
        return self.tables[request.dataset]

    def _check_schema(self, dataset: str, requested: Schema) -> None:
        if self.config.helper:
            return
        problems = requested.differences(self.config.datasets[dataset].schema, self.name)
        if problems:
            raise SchemaError(
                f"{self.name}'s schema of {dataset!r} differs from the request's: "
                + "; ".join(problems)
            )

    async def _analyst(self, context: grpc.aio.ServicerContext) -> str:
        """The calling analyst's certificate name; anyone else is refused."""
        names = context.auth_context().get("x509_common_name", [])
        name = names[0].decode() if len(names) == 1 else ""
        if name not in self.config.analysts:
            log.warning("refused an analyst", extra={"party": self.name, "certificate": name})
            self.audit.append("refused", certificate=name)
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{self.name}: certificate {name!r} is not an analyst of this federation",
                trailing_metadata=((ERROR_KEY, AccessDeniedError.__name__),),
            )
        return name


def _certificate(context: grpc.aio.ServicerContext) -> str:
    """The SHA-256 fingerprint of the caller's certificate, or "" if gRPC does not give it."""
    pems = context.auth_context().get("x509_pem_cert", [])
    return certificate_fingerprint(pems[0]) if len(pems) == 1 else ""


def _request(
    request: analyst_pb2.RunRequest, session: str, analyst: str, certificate: str
) -> AnalysisRequest:
    """The request as this party received it, for its digest."""
    return AnalysisRequest(
        session=session,
        analyst=analyst,
        certificate=certificate,
        dataset=request.dataset,
        method=request.method,
        arguments_json=request.arguments_json,
        k=request.policy.k,
        allow_extremes=request.policy.allow_extremes,
        max_parameter_fraction=request.policy.max_parameter_fraction,
        max_quantile_levels=request.policy.max_quantile_levels,
        schema_json=request.schema_json,
    )


def _progress(session: Session) -> analyst_pb2.Progress:
    return analyst_pb2.Progress(rounds=session.stats.rounds, bytes_sent=session.stats.bytes_sent)


def _output(session: Session, outputs: dict[str, Any], modulus_bits: int) -> analyst_pb2.Output:
    shares = [
        analyst_pb2.OutputShare(
            name=name, frac=output[1], share=encode_tensor(np.asarray(output[0]), session.field)
        )
        for name, output in outputs.items()
        if name != PUBLIC
    ]
    return analyst_pb2.Output(
        shares=shares,
        public_json=json.dumps(outputs.get(PUBLIC, {}), sort_keys=True),
        degree=session.output_degree,
        modulus_bits=modulus_bits,
        totals=_progress(session),
    )


async def _abort(context: grpc.aio.ServicerContext, party: str, error: MpcStatsError) -> NoReturn:
    """End the call with the status matching ``error``; the metadata names its class."""
    code = status_of(error)
    metadata: list[tuple[str, str]] = [(ERROR_KEY, type(error).__name__)]
    if isinstance(error, PartyUnavailableError):
        metadata += [(PARTY_KEY, str(error.party)), (DETAIL_KEY, error.detail)]
    await context.abort(code, f"{party}: {error}", trailing_metadata=tuple(metadata))
    raise AssertionError("unreachable: abort raises")


def _load_table(
    party: str, dataset: str, source: dict[str, Any], schema: Schema
) -> pd.DataFrame | SqlTable:
    """The party's table of ``dataset``, checked against the schema it declares."""
    kind, path = source.get("format"), source.get("path")
    if kind == "sql":
        url, table = source.get("url"), source.get("table")
        if not isinstance(url, str) or not isinstance(table, str):
            raise ConfigurationError(f'[datasets.{dataset}] format = "sql" needs url and table')
        try:
            sql = SqlTable(url, table, key=source.get("key"))
        except ConfigurationError as error:
            raise ConfigurationError(f"[datasets.{dataset}]: {error}") from None
        sql.check(schema, f"{party} ({dataset})")
        return sql
    if kind not in {"csv", "parquet"} or not isinstance(path, str):
        raise ConfigurationError(
            f'[datasets.{dataset}] needs format = "csv", "parquet" or "sql", and path = "..." '
            "(or url and table for sql)"
        )
    staged = source.get("stage")
    if staged is not None:  # larger than memory: imported in chunks, analyses pushed down
        try:
            staged_table = stage(Path(path), kind, schema, Path(staged), f"{party} ({dataset})")
            staged_table.key = source.get("key")  # imported with every column of the file
            return staged_table
        except ConfigurationError as error:
            raise ConfigurationError(f"[datasets.{dataset}]: {error}") from None
    try:
        frame = pd.read_parquet(path) if kind == "parquet" else pd.read_csv(path)
    except OSError as error:
        raise ConfigurationError(f"[datasets.{dataset}]: cannot read {path}: {error}") from None
    schema.check(frame, f"{party} ({dataset})")
    return frame


# running a daemon -----------------------------------------------------------------------------
class _JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extra fields.

    Only fields the daemon passes in ``extra`` appear: names, ids, counts, durations."""

    _STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._STANDARD})
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger("mpcstats")
    root.handlers[:] = [handler]
    root.setLevel(level)


async def serve(config: PartyConfig, ready: Callable[[int], None] | None = None) -> None:
    """Run the daemon until SIGTERM or SIGINT, then stop gracefully."""
    daemon = PartyDaemon(config)
    port = await daemon.start()
    if ready is not None:
        ready(port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sign in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sign, stopping.set)
    await stopping.wait()
    log.info("shutting down", extra={"party": config.name})
    await daemon.stop()
