"""The analyst's client: ``mpcstats.connect(...)`` returns a study over a federation of daemons.

>>> study = mpcstats.connect(
...     parties={"hosp_a": "a.example:7001", "hosp_b": "b.example:7001",
...              "hosp_c": "c.example:7001"},
...     ca="pki/ca.pem", cert="pki/dr_jones.pem", key="pki/dr_jones.key")
>>> study.describe("bmi", where="age >= 65").summary()

The study has the analysis API of :class:`~mpcstats.LocalSimulator`. Each call sends the method
and its arguments to every party (the same session id everywhere); the parties compute together
and each returns its output shares, which only this client combines. Calls are synchronous,
also inside a running event loop (Jupyter): they run on the client's own event-loop thread.
``await study.aio.describe(...)`` is the asynchronous form. Long calls show a progress bar;
Ctrl-C (KeyboardInterrupt) cancels the call, and every party stops the session.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import socket
import ssl
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
from tqdm.auto import tqdm

from mpcstats._errors import (
    AccessDeniedError,
    ChannelClosedError,
    ConfigurationError,
    MpcStatsError,
    PartyUnavailableError,
    ProtocolError,
    RequestMismatchError,
)
from mpcstats.core.field import PrimeField
from mpcstats.stats.analysis import PUBLIC, Analysis, Plan
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Schema, SchemaError
from mpcstats.stats.study import Study
from mpcstats.transport._proto.v1 import analyst_pb2, analyst_pb2_grpc
from mpcstats.transport.grpc_channel import Limits, decode_tensor
from mpcstats.wire import (
    DETAIL_KEY,
    ERROR_KEY,
    ERRORS,
    PARTY_KEY,
    policy_from_message,
    policy_message,
)

__all__ = ["Federation", "connect"]

T = TypeVar("T")

_OPTIONS = Limits().options()
_RETRY_INTERVAL = 0.2
_REPORT_GRACE = 2.0  # after one party fails, how long the others may take to say why they stop
_PENDING: contextvars.ContextVar[list[concurrent.futures.Future[Any]] | None] = (
    contextvars.ContextVar("mpcstats_pending", default=None)
)  # the calls an ``aio`` method has running on the client's loop, to cancel with it
_RANK = [  # which failure explains a call best, when several parties report one
    (RequestMismatchError, 0),  # the parties refused a session whose requests differ
    (ConfigurationError, 0),
    (AccessDeniedError, 0),
    (MpcStatsError, 1),
]


def connect(
    parties: Mapping[str, str] | Sequence[str],
    *,
    ca: str | Path,
    cert: str | Path,
    key: str | Path,
    dataset: str | None = None,
    timeout: float = 30.0,
    query_timeout: float = 3600.0,
    progress: bool = True,
) -> Federation:
    """A study over the federation whose parties serve at ``parties``.

    ``parties`` maps each party's name to its host:port (the name is what its certificate must
    say); a list of host:port is accepted where each host name is the party's certificate name.
    Every party of the federation must be listed. ``dataset`` picks the table (default: the one
    every hospital holds). Raises SchemaError, column by column, when the hospitals' schemas of
    the dataset differ, before anything is computed.
    """
    return Federation(
        parties,
        ca=ca,
        cert=cert,
        key=key,
        dataset=dataset,
        timeout=timeout,
        query_timeout=query_timeout,
        progress=progress,
    )


class _Party:
    """The client's connection to one party."""

    def __init__(self, address: str, name: str, credentials: grpc.ChannelCredentials) -> None:
        self.address, self.name = address, name
        # TLS checks that the server's certificate names this party, and Describe that the
        # daemon says it is this party
        options = [*_OPTIONS, ("grpc.ssl_target_name_override", name)]
        self.channel = grpc.aio.secure_channel(address, credentials, options=options)
        self.stub = analyst_pb2_grpc.AnalystStub(self.channel)
        self.index = -1
        self.info = analyst_pb2.PartyInfo()


class Federation(Study):
    """A study whose parties are daemons over gRPC; see :func:`connect`."""

    def __init__(
        self,
        parties: Mapping[str, str] | Sequence[str],
        *,
        ca: str | Path,
        cert: str | Path,
        key: str | Path,
        dataset: str | None,
        timeout: float,
        query_timeout: float,
        progress: bool,
    ) -> None:
        self.timeout, self.query_timeout, self.progress = timeout, query_timeout, progress
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self._files = _tls_files(ca, cert, key)
            credentials = grpc.ssl_channel_credentials(
                *(self._files[what].read_bytes() for what in ("ca", "key", "cert"))
            )
            entries = (
                parties.items()
                if isinstance(parties, Mapping)
                else [(_split(address)[0], address) for address in parties]
            )
            self._parties = self._call(self._open(entries, credentials))
            self.names = [p.info.party for p in self._parties]
            self.dataset, self.schema = self._agree_schema(dataset)
            self.policy = _strictest([policy_from_message(p.info.policy) for p in self._parties])
        except BaseException:
            self.close()
            raise
        self._one_at_a_time = asyncio.Lock()
        self.aio = _AsyncStudy(self)

    def __repr__(self) -> str:
        return f"Federation(parties={self.names}, dataset={self.dataset!r})"

    @property
    def n(self) -> int:
        """The number of compute parties (hospitals and helpers)."""
        return len(self._parties)

    def __enter__(self) -> Federation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and the client's event-loop thread."""
        if not self._loop.is_running():
            return
        for party in getattr(self, "_parties", []):
            asyncio.run_coroutine_threadsafe(party.channel.close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    # connecting -------------------------------------------------------------------------------
    async def _open(self, entries: Any, credentials: grpc.ChannelCredentials) -> list[_Party]:
        parties = [_Party(address, name, credentials) for name, address in entries]
        await asyncio.gather(*(self._describe(p) for p in parties))
        order = [p.info.parties[:] for p in parties]
        federation = list(order[0])
        for party in parties:
            if list(party.info.parties) != federation:
                raise ConfigurationError(
                    f"{party.name} configures the parties as {list(party.info.parties)}, "
                    f"{parties[0].name} as {federation}"
                )
        by_index = {p.info.index: p for p in parties}
        missing = [name for i, name in enumerate(federation) if i not in by_index]
        if missing or len(parties) != len(federation):
            raise ConfigurationError(
                f"the federation is {federation}: list every party once (missing: {missing})"
            )
        return [by_index[i] for i in range(len(federation))]

    async def _describe(self, party: _Party) -> None:
        """Ask ``party`` who it is, retrying while it is starting up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            try:
                party.info = await party.stub.Describe(
                    analyst_pb2.DescribeRequest(), timeout=max(deadline - loop.time(), 0.1)
                )
                break
            except grpc.aio.AioRpcError as error:
                refused = _refusal(party.name, error) or await self._diagnose(party, error)
                if refused is not None:
                    raise refused from None
                if error.code() != grpc.StatusCode.UNAVAILABLE or loop.time() >= deadline:
                    raise PartyUnavailableError(
                        -1, f"the analyst cannot reach it ({error.details()})", party.name
                    ) from None
            await asyncio.sleep(_RETRY_INTERVAL)
        if party.info.party != party.name:
            raise AccessDeniedError(f"{party.address} is {party.info.party!r}, not {party.name!r}")
        party.name, party.index = party.info.party, party.info.index

    async def _diagnose(
        self, party: _Party, error: grpc.aio.AioRpcError
    ) -> AccessDeniedError | None:
        """Why a party that accepts connections closes them: gRPC does not say whether TLS
        failed, so a direct handshake finds out (a server not up yet refuses the connection)."""
        if error.code() != grpc.StatusCode.UNAVAILABLE or "refused" in (error.details() or ""):
            return None
        reason = await asyncio.to_thread(_probe_tls, party, self._files)
        return (
            None
            if reason is None
            else AccessDeniedError(f"{party.name} refused the analyst: {reason}")
        )

    def _agree_schema(self, dataset: str | None) -> tuple[str, Schema]:
        hospitals = [p for p in self._parties if not p.info.helper]
        if len(hospitals) < 2:
            raise ConfigurationError("a study joins at least two hospitals (non-helper parties)")
        held = [{d.name: d.schema_json for d in p.info.datasets} for p in hospitals]
        common = set.intersection(*(set(h) for h in held))
        if dataset is None:
            if len(common) != 1:
                raise ConfigurationError(
                    f"choose a dataset with connect(..., dataset=...): the hospitals share "
                    f"{sorted(common)}"
                )
            dataset = common.pop()
        for party, tables in zip(hospitals, held, strict=True):
            if dataset not in tables:
                raise ConfigurationError(
                    f"{party.name} has no dataset {dataset!r}; it has {sorted(tables)}"
                )
        schemas = [
            Schema.from_json(h[dataset], f"{p.name}'s schema")
            for p, h in zip(hospitals, held, strict=True)
        ]
        problems = [
            problem
            for party, schema in zip(hospitals[1:], schemas[1:], strict=True)
            for problem in schemas[0].differences(schema, party.name)
        ]
        if problems:
            raise SchemaError(
                f"the hospitals' schemas of {dataset!r} differ (compared with "
                f"{hospitals[0].name}'s): " + "; ".join(problems)
            )
        return dataset, schemas[0]

    # running ----------------------------------------------------------------------------------
    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the client's loop; Ctrl-C, or cancelling the ``aio`` call that
        runs this, cancels it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        pending = _PENDING.get()
        if pending is not None:
            pending.append(future)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def _execute(self, analysis: Analysis, plan: Plan[Any]) -> tuple[list[dict[str, Any]], int]:
        request = analyst_pb2.RunRequest(
            session_id=str(uuid.uuid4()),
            dataset=self.dataset,
            method=analysis.name,
            arguments_json=analysis.to_json(),
            policy=policy_message(self.policy),
            schema_json=self.schema.to_json(),
        )
        outputs = self._call(self._run(request))
        return _decode(outputs, plan.modulus_bits)

    async def _run(self, request: analyst_pb2.RunRequest) -> list[analyst_pb2.Output]:
        """Every party's output for ``request``, one analysis at a time: the parties refuse a
        second analysis of one analyst while one runs (its overlap check must see the sets of
        the one before)."""
        async with self._one_at_a_time:
            return await self._run_alone(request)

    async def _run_alone(self, request: analyst_pb2.RunRequest) -> list[analyst_pb2.Output]:
        """Every party's output for ``request``; the first failure cancels every party's call."""
        bar = tqdm(desc=request.method, unit=" rounds", delay=1.0, disable=not self.progress)
        calls = [p.stub.Run(request, timeout=self.query_timeout) for p in self._parties]
        tasks = [
            asyncio.ensure_future(self._follow(p, c, bar if p.index == 0 else None))
            for p, c in zip(self._parties, calls, strict=True)
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            if all(t.done() and not t.exception() for t in tasks):
                return [t.result() for t in tasks]
            await asyncio.wait(tasks, timeout=_REPORT_GRACE)  # the others' reasons, too
            raise _explain([t.exception() for t in tasks if t.done() and t.exception()])
        finally:
            for call in calls:
                call.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            bar.close()

    async def _follow(self, party: _Party, call: Any, bar: tqdm | None) -> analyst_pb2.Output:
        """Read ``party``'s updates until its output."""
        try:
            async for update in call:
                if update.HasField("output"):
                    return update.output
                if bar is not None:
                    bar.update(update.progress.rounds - bar.n)
        except grpc.aio.AioRpcError as error:
            raise _error(party, error) from None
        raise ProtocolError(f"{party.name} ended the call without an output")


class _AsyncStudy:
    """``study.aio.<method>(...)``: the analysis methods as coroutines."""

    def __init__(self, study: Federation) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._study, name)

        async def run(*args: Any, **kwargs: Any) -> Any:
            pending: list[concurrent.futures.Future[Any]] = []
            token = _PENDING.set(pending)  # the thread runs in a copy of this context
            try:
                return await asyncio.to_thread(method, *args, **kwargs)
            except asyncio.CancelledError:
                for future in pending:
                    future.cancel()
                raise
            finally:
                _PENDING.reset(token)

        return run


# decoding -------------------------------------------------------------------------------------
def _decode(
    outputs: list[analyst_pb2.Output], modulus_bits: int
) -> tuple[list[dict[str, Any]], int]:
    """Each party's output shares as the study's ``_release`` takes them."""
    field = PrimeField.with_bits(modulus_bits)
    if {o.modulus_bits for o in outputs} != {modulus_bits} or len({o.degree for o in outputs}) != 1:
        raise ProtocolError("the parties disagree on the field or degree: mixed mpcstats versions?")
    if len({o.public_json for o in outputs}) != 1:
        raise ProtocolError("the parties report different public values: mixed versions?")
    public = json.loads(outputs[0].public_json)
    decoded = []
    for output in outputs:
        shares: dict[str, Any] = {
            s.name: (decode_tensor(s.share, field), s.frac) for s in output.shares
        }
        decoded.append({**shares, PUBLIC: public})
    return decoded, outputs[0].degree


def _error(party: _Party, error: grpc.aio.AioRpcError) -> MpcStatsError:
    """The mpcstats error a party reported, or what its failed call means."""
    metadata = dict(error.trailing_metadata() or ())
    kind = ERRORS.get(str(metadata.get(ERROR_KEY, "")))
    if kind is PartyUnavailableError:
        missing = int(metadata.get(PARTY_KEY, -1))
        names = list(party.info.parties)
        name = names[missing] if 0 <= missing < len(names) else ""
        detail = f"{metadata.get(DETAIL_KEY, '')} (reported by {party.name})"
        return PartyUnavailableError(missing, detail, name)
    if kind is not None:
        return kind(error.details())
    refused = _refusal(party.name, error)
    if refused is not None:
        return refused
    if error.code() == grpc.StatusCode.CANCELLED:
        return ChannelClosedError(f"the call to {party.name} was cancelled")
    return PartyUnavailableError(
        party.index,
        f"the analyst lost it ({error.code().name}: {error.details()})",
        party.name,
    )


def _refusal(name: str, error: grpc.aio.AioRpcError) -> AccessDeniedError | None:
    """A refusal at the TLS handshake, or by the party's analyst check."""
    details = error.details() or ""
    if error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return AccessDeniedError(details)
    if "handshake" in details.lower() or "ssl" in details.lower():
        return AccessDeniedError(
            f"{name} refused the TLS handshake: is the certificate issued by the federation's "
            f"CA, and does the party's certificate name {name!r}? ({details})"
        )
    return None


def _explain(errors: list[BaseException | None]) -> BaseException:
    """The failure that explains the others: a request mismatch or a validation error before
    a missing party, a missing party before the session aborts it caused."""
    found = [e for e in errors if e is not None]
    primary = [e for e in found if not isinstance(e, ChannelClosedError)]
    candidates = primary or found

    def rank(error: BaseException) -> int:
        return next((r for kind, r in _RANK if isinstance(error, kind)), 2)

    return min(candidates, key=rank)


def _split(address: str) -> tuple[str, int]:
    """The host and port of ``host:port`` (or ``[v6 address]:port``). In the list form of
    :func:`connect` the host is the name the party's certificate must carry."""
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise ConfigurationError(f"{address!r} is not host:port")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _tls_files(ca: str | Path, cert: str | Path, key: str | Path) -> dict[str, Path]:
    files = {"ca": Path(ca), "cert": Path(cert), "key": Path(key)}
    for what, path in files.items():
        if not path.is_file():
            raise ConfigurationError(f"connect(..., {what}=...): no file at {path}")
    return files


def _probe_tls(party: _Party, files: dict[str, Path]) -> str | None:
    """Why ``party`` refuses this analyst's TLS, or None if the handshake is not the problem."""
    context = ssl.create_default_context(cafile=str(files["ca"]))
    context.load_cert_chain(str(files["cert"]), str(files["key"]))
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection(_split(party.address), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=party.name) as tls,
        ):
            if tls.recv(1):  # a server that accepts the certificate starts HTTP/2
                return None
            return (
                "it closed the connection after the TLS handshake: it does not accept this "
                "certificate (is it issued by the federation's CA?)"
            )
    except ssl.SSLError as error:
        return f"the TLS handshake failed: {error.reason or error}"
    except (OSError, ValueError):
        return None


def _strictest(policies: list[Policy]) -> Policy:
    """The rules every party accepts: the largest k, extremes only if all allow them."""
    return Policy(
        k=max(p.k for p in policies),
        allow_extremes=all(p.allow_extremes for p in policies),
        max_parameter_fraction=min(p.max_parameter_fraction for p in policies),
        max_quantile_levels=min(p.max_quantile_levels for p in policies),
    )
