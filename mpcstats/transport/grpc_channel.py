"""Party-to-party transport over gRPC with mutual TLS.

A :class:`GrpcNetwork` is one party's endpoint, shared by all its sessions; a
:class:`GrpcChannel` is the :class:`~mpcstats.transport.channel.Channel` of one session on it.

- Two parties share one bidirectional stream (``mpcstats.v1.PeerExchange.Connect``), dialled by
  the party with the higher index: one TLS connection per pair, and both ends notice at once
  when it breaks. Frames of concurrent sessions share it, told apart by session id.
- Identity is the certificate. A party's server requires a client certificate from the
  federation's CA, and the connecting party's Hello must claim the index the configuration gives
  the certificate's common name; a dialling party verifies that the server's certificate names
  the peer it meant to reach. Both sides check that they configure the same federation.
- Every session involves all parties of the network, so when a peer's stream breaks every
  session in progress fails at once with a :class:`~mpcstats.PartyUnavailableError` naming that
  peer, whichever peer each receive was waiting for; a silent peer is named after the timeout.
  A party that closes its network says Goodbye last: what it sent still arrives and counts, and
  only receives still waiting for it fail, so parties that finish a session early may leave.
- Shares travel as typed tensors at the field's fixed width, so a message's size depends on its
  shape only, and received elements are checked to lie in the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from grpc._cython import cygrpc

from mpcstats._errors import (
    ChannelClosedError,
    ConfigurationError,
    MpcStatsError,
    PartyUnavailableError,
    ProtocolError,
)
from mpcstats.core.field import DEFAULT_MODULUS_BITS, PrimeField
from mpcstats.core.randomness import element_count
from mpcstats.transport._proto.v1 import peer_pb2, peer_pb2_grpc
from mpcstats.transport.channel import Channel, Payload
from mpcstats.transport.pki import Identity

__all__ = [
    "MAX_MESSAGE",
    "GrpcChannel",
    "GrpcNetwork",
    "Limits",
    "decode_tensor",
    "encode_tensor",
]

log = logging.getLogger("mpcstats.transport")

MAX_MESSAGE = 256 * 1024 * 1024
MIN_KEEPALIVE = 1.0  # seconds
_MAX_SECONDS = 2**31 // 1000  # grpc takes the keepalive times in milliseconds, as a C int
_MIN_PING_MS = 500  # a server ends a connection that pings more often (with margin for jitter)
_RECONNECT = [  # peers start in any order: retry a peer that is not up yet, briskly
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


@dataclass(frozen=True)
class Limits:
    """What a party's gRPC connections allow; every party of a federation should agree.

    ``max_message`` bounds one message, sent or received: a round's frame to one peer larger
    than it is refused before it is sent, naming its round and size. Keepalive pings notice a
    peer whose machine hangs or vanished without closing its connection: ``keepalive`` seconds
    between pings, ``keepalive_timeout`` seconds for the answer, so such a peer is named
    within their sum rather than after a session's timeout.
    """

    max_message: int = MAX_MESSAGE
    keepalive: float = 10.0
    keepalive_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not 1024 <= self.max_message <= 2**31 - 1:
            raise ConfigurationError(
                "the message limit (max_message_mib) must be at least 1 KiB and below 2 GiB, "
                f"not {_mib(self.max_message)}"
            )
        if not (
            MIN_KEEPALIVE <= self.keepalive <= _MAX_SECONDS
            and 0 < self.keepalive_timeout <= _MAX_SECONDS
        ):
            raise ConfigurationError(
                f"keepalive must be at least {MIN_KEEPALIVE:g} s and keepalive_timeout "
                f"positive, both at most {_MAX_SECONDS} s, not {self.keepalive:g} s and "
                f"{self.keepalive_timeout:g} s"
            )

    def options(self, server: bool = False) -> list[tuple[str, int]]:
        """gRPC channel arguments: a server's, or a dialling party's and an analyst's."""
        common = [
            ("grpc.max_send_message_length", self.max_message),
            ("grpc.max_receive_message_length", self.max_message),
            ("grpc.keepalive_time_ms", round(self.keepalive * 1000)),
            ("grpc.keepalive_timeout_ms", round(self.keepalive_timeout * 1000)),
            # since grpc 1.5x a ping's answer is awaited this long (default 60 s), keepalive too
            ("grpc.http2.ping_timeout_ms", round(self.keepalive_timeout * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]
        if server:  # accept the pings of every peer whose keepalive is at least MIN_KEEPALIVE
            return [*common, ("grpc.http2.min_ping_interval_without_data_ms", _MIN_PING_MS)]
        return [*common, *_RECONNECT]


_RETRY_INTERVAL = 0.2
_STOPPED_KEPT = 4096
_GRACE = 1.0  # how long a closing party waits for a peer to end a stream in turn
# A write on the server side of a stream whose peer vanished raises cygrpc's ExecuteBatchError,
# which grpc.aio does not export: without it a killed peer showed up as an internal error.
_STREAM_ERRORS = (
    grpc.aio.AioRpcError,
    grpc.aio.UsageError,
    asyncio.InvalidStateError,
    cygrpc.ExecuteBatchError,
)

_Frame = peer_pb2.PeerFrame
_Failure = Callable[[], MpcStatsError]  # makes a stopped session's error, afresh each time
_Key = tuple[str, int, int]  # (session id, sender, round)


# wire format ----------------------------------------------------------------------------------
def encode_tensor(array: np.ndarray, prime: PrimeField) -> peer_pb2.Tensor:
    """GF(2^8) shares as raw bytes; anything else as elements of ``prime`` at its fixed width."""
    if array.dtype == np.uint8:
        return peer_pb2.Tensor(
            kind=peer_pb2.Tensor.GF256, shape=array.shape, data=array.tobytes(), width=1
        )
    return peer_pb2.Tensor(
        kind=peer_pb2.Tensor.PRIME,
        shape=array.shape,
        data=prime.to_bytes(array),
        width=prime.width,
    )


def decode_tensor(tensor: peer_pb2.Tensor, prime: PrimeField) -> np.ndarray:
    """The array a tensor carries; raises ValueError when it is malformed or outside the field."""
    shape = tuple(tensor.shape)
    if tensor.kind == peer_pb2.Tensor.GF256:
        if tensor.width != 1 or len(tensor.data) != element_count(shape):
            raise ValueError("a GF(2^8) tensor does not match its shape")
        return np.frombuffer(tensor.data, dtype=np.uint8).reshape(shape).copy()
    if tensor.kind != peer_pb2.Tensor.PRIME:
        raise ValueError(f"unknown tensor kind {tensor.kind}")
    if tensor.width != prime.width:
        raise ValueError(
            f"field elements of {tensor.width} bytes where this session's field has "
            f"{prime.width}: the parties disagree on the modulus"
        )
    return prime.from_bytes(tensor.data, shape)


# network --------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Link:
    """The live stream to one peer, whichever side dialled it; writes are serialised."""

    peer: int
    write: Callable[[_Frame], Awaitable[None]]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _PeerRejectedError(Exception):
    """A peer broke the wire protocol or is not who it claims; its stream ends with ``code``."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class GrpcNetwork(peer_pb2_grpc.PeerExchangeServicer):
    """One party's gRPC endpoint for all its sessions.

    >>> network = GrpcNetwork(0, ["hosp_a", "hosp_b", "hosp_c"], identity, listen="0.0.0.0:7000")
    >>> await network.start()            # the bound port (listen may ask for port 0)
    >>> await network.connect(addresses) # every party's host:port, by index
    >>> session = Session(0, 3, network.channel("study-42"))
    """

    def __init__(
        self,
        party: int,
        names: Sequence[str],
        identity: Identity,
        *,
        listen: str,
        timeout: float = 30.0,
        limits: Limits = Limits(),
    ) -> None:
        self.party, self.names, self.n = party, list(names), len(names)
        _check_configuration(party, self.names, identity)
        self.identity, self.listen, self.timeout = identity, listen, timeout
        self.limits = limits
        self.port = 0
        self._server: Any = None  # grpc.aio.Server once started
        self._links: dict[int, _Link] = {}
        self._lost: dict[int, str] = {}  # why each unlinked peer is unavailable
        self._dials: dict[int, asyncio.Task[None]] = {}  # opening or serving a peer's link
        self._dialling: set[asyncio.Task[None]] = set()  # every dial task still running
        self._linked = asyncio.Event()  # set whenever links or dials change
        self._boxes: dict[_Key, asyncio.Future[_Frame]] = {}
        self._sessions: weakref.WeakValueDictionary[str, GrpcChannel] = (
            weakref.WeakValueDictionary()
        )
        self._stopped: dict[str, _Failure] = {}
        self._closed = False
        self._closing = asyncio.Event()

    def __repr__(self) -> str:
        return f"GrpcNetwork(party={self.names[self.party]!r}, port={self.port})"

    def channel(self, session_id: str, prime: PrimeField | None = None) -> GrpcChannel:
        """The channel of a new session; ``prime`` must be the session's field (default: the
        default field of :class:`~mpcstats.protocols.session.Session`)."""
        if session_id in self._stopped:  # a peer stopped it before it started here
            raise self._stopped[session_id]()
        if session_id in self._sessions:
            raise ConfigurationError(f"session id {session_id!r} is already in use")
        channel = GrpcChannel(self, session_id, prime or PrimeField.with_bits(DEFAULT_MODULUS_BITS))
        self._sessions[session_id] = channel
        return channel

    # lifecycle --------------------------------------------------------------------------------
    async def start(self, services: Sequence[Callable[[grpc.aio.Server], None]] = ()) -> int:
        """Listen, requiring client certificates from the federation's CA; returns the port.

        ``services`` add more gRPC services to the same server (the party daemon's analyst and
        health services), so one port and one TLS configuration serve them all.
        """
        ca, key, cert = self.identity.credentials()
        credentials = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=True
        )
        self._server = grpc.aio.server(options=self.limits.options(server=True))
        peer_pb2_grpc.add_PeerExchangeServicer_to_server(self, self._server)
        for add in services:
            add(self._server)
        self.port = self._server.add_secure_port(self.listen, credentials)
        await self._server.start()
        return self.port

    async def connect(self, addresses: Sequence[str]) -> None:
        """Link to every peer: dial the lower indices (at ``addresses[i]``, host:port) and await
        the higher ones, which may start later. Raises PartyUnavailableError naming the first
        peer not linked within the timeout, with the reason (refusal, TLS error) when known."""
        if len(addresses) != self.n:
            raise ConfigurationError(f"{self.n} parties need {self.n} addresses")
        if self._closed:
            raise ChannelClosedError(f"party {self.party} closed its network")
        for peer in range(self.party):
            dial = self._dials.get(peer)
            if peer not in self._links and (dial is None or dial.done()):
                dial = self._dials[peer] = asyncio.ensure_future(self._dial(peer, addresses[peer]))
                self._dialling.add(dial)
                dial.add_done_callback(self._dialling.discard)
        await self._await_links()
        for peer in self._peers():
            if peer not in self._links:
                detail = self._lost.get(peer, f"no connection within {self.timeout:g} s")
                raise self._unavailable(peer, detail)

    async def close(self) -> None:
        """Stop every session here, say Goodbye to every peer, end the streams and the server.

        Frames sent before still reach the peers; a peer that does not end its stream in turn
        within a second is cut off.
        """
        self._closed = True
        stop = functools.partial(ChannelClosedError, f"party {self.party} closed its network")
        for session_id in self._live_sessions():
            self._stop(session_id, stop)
        self._closing.set()
        dials = list(self._dialling)
        if dials:
            await asyncio.wait(dials, timeout=2 * _GRACE)
            for dial in dials:
                dial.cancel()
            await asyncio.wait(dials, timeout=_GRACE)  # a dial stuck in grpc must not hold us
        if self._server is not None:
            await self._server.stop(_GRACE)

    def _unavailable(self, peer: int, detail: str) -> PartyUnavailableError:
        return PartyUnavailableError(peer, detail, self.names[peer])

    def _peers(self) -> list[int]:
        return [peer for peer in range(self.n) if peer != self.party]

    async def _await_links(self) -> None:
        """Until every peer is linked, or its dial gave up, or the timeout passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout

        def waiting() -> bool:
            dialling = any(
                peer not in self._links and not self._dials[peer].done()
                for peer in range(self.party)
                if peer in self._dials
            )
            awaited = any(peer not in self._links for peer in range(self.party + 1, self.n))
            return dialling or (awaited and loop.time() < deadline)

        while waiting():
            self._linked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._linked.wait(), max(deadline - loop.time(), 0.05))

    # links ------------------------------------------------------------------------------------
    def _hello(self) -> _Frame:
        return _Frame(sender=self.party, hello=peer_pb2.Hello(parties=self.names))

    def _link(self, link: _Link) -> None:
        """Make ``link`` the peer's stream; a peer that connects again replaces its old one."""
        old = self._links.get(link.peer)
        if old is not None:
            self._lose(old, "it connected again")
        self._links[link.peer] = link
        self._lost.pop(link.peer, None)
        self._linked.set()

    def _unlink(self, link: _Link, reason: str) -> bool:
        """Retire ``link`` if it is still the peer's stream; False if it was already."""
        if self._links.get(link.peer) is not link:
            return False
        del self._links[link.peer]
        if link.peer < self.party:  # its dial task is ending: connect() may dial again
            self._dials.pop(link.peer, None)
        self._lost[link.peer] = reason
        self._linked.set()
        return True

    def _lose(self, link: _Link, reason: str) -> None:
        """The peer's stream ended without a Goodbye, so the peer failed: every session in
        progress fails, naming it."""
        if not self._unlink(link, reason):
            return
        if not self._closed:
            log.warning("party %d (%s) unavailable: %s", link.peer, self.names[link.peer], reason)
        failure = functools.partial(self._unavailable, link.peer, reason)
        for session_id in self._live_sessions():
            self._stop(session_id, failure)

    def _depart(self, link: _Link) -> None:
        """The peer closed in order: what it sent stays; receives still waiting for it fail."""
        reason = "it closed its network"
        if not self._unlink(link, reason):
            return
        waiting = [k for k, box in self._boxes.items() if k[1] == link.peer and not box.done()]
        for key in waiting:
            self._boxes.pop(key).set_exception(self._unavailable(link.peer, reason))

    async def _run(
        self,
        link: _Link,
        read: Callable[[], Awaitable[Any]],
        half_close: Callable[[], Awaitable[None]] | None,
    ) -> None:
        """Serve a linked stream until it ends; if this party closes first, say Goodbye and
        end it in order. The dialling side half-closes and waits for the peer to end it."""
        reader = asyncio.ensure_future(self._serve(link, read))
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait([reader, closing], return_when=asyncio.FIRST_COMPLETED)
            if reader.done():
                return await reader  # raises _PeerRejectedError when the peer broke the protocol
            with contextlib.suppress(PartyUnavailableError):
                await self._write(link, _Frame(sender=self.party, goodbye=peer_pb2.Goodbye()))
            if half_close is not None:
                with contextlib.suppress(*_STREAM_ERRORS):
                    await half_close()
                await asyncio.wait([reader], timeout=_GRACE)
        finally:
            closing.cancel()
            reader.cancel()

    async def _serve(self, link: _Link, read: Callable[[], Awaitable[Any]]) -> None:
        """Deliver the peer's frames until its stream ends; without a Goodbye, lose the peer."""
        reason = "its stream ended without a Goodbye"
        try:
            while (frame := await read()) is not grpc.aio.EOF:
                self._accept(link, frame)
        except grpc.aio.AioRpcError as error:
            reason = self._broken(error)
        except asyncio.CancelledError:
            reason = "the connection was cancelled"
            raise
        except _PeerRejectedError as refusal:
            reason = f"it broke the protocol: {refusal}"
            raise
        finally:
            self._lose(link, reason)

    def _broken(self, error: grpc.aio.AioRpcError) -> str:
        if "larger than max" in (error.details() or ""):
            return (  # a peer's limit is lower than this party's: it refused a message
                f"the connection broke ({error.details()}); every party must set the same "
                "max_message_mib"
            )
        return f"the connection broke ({error.code().name})"

    def _accept(self, link: _Link, frame: _Frame) -> None:
        if self._links.get(link.peer) is not link:
            return  # the tail of a replaced stream
        if frame.sender != link.peer or frame.HasField("hello"):
            raise _PeerRejectedError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"a frame of party {link.peer} claims party {frame.sender} or greets again",
            )
        if frame.HasField("goodbye"):
            self._depart(link)
            return
        if frame.session_id in self._stopped:
            return
        if frame.HasField("abort"):
            reason = f"party {link.peer} stopped the session: {frame.abort.reason}"
            self._stop(frame.session_id, functools.partial(ChannelClosedError, reason))
            return
        box = self._box((frame.session_id, link.peer, frame.round))
        if not box.done():
            box.set_result(frame)

    # server side: higher-index peers dial in ----------------------------------------------------
    async def Connect(  # noqa: N802 - the RPC's name in the proto
        self, request_iterator: Any, context: grpc.aio.ServicerContext
    ) -> None:
        try:
            peer = await self._admit(context)
        except _PeerRejectedError as refusal:
            log.warning("refused a connection: %s", refusal)
            await context.abort(refusal.code, str(refusal))
        await context.write(self._hello())
        link = _Link(peer, context.write)
        self._link(link)
        try:
            await self._run(link, context.read, half_close=None)
        except _PeerRejectedError as refusal:
            await context.abort(refusal.code, str(refusal))

    async def _admit(self, context: grpc.aio.ServicerContext) -> int:
        """The index of the connecting party, from its verified certificate and its Hello."""
        names = context.auth_context().get("x509_common_name", [])
        name = names[0].decode() if len(names) == 1 else ""
        if name not in self.names:
            raise _PeerRejectedError(
                grpc.StatusCode.UNAUTHENTICATED,
                f"certificate {name!r} does not name a party of this federation",
            )
        try:
            hello = await asyncio.wait_for(context.read(), self.timeout)
        except TimeoutError:
            hello = grpc.aio.EOF
        if hello is grpc.aio.EOF or not hello.HasField("hello"):
            raise _PeerRejectedError(grpc.StatusCode.INVALID_ARGUMENT, f"{name!r} sent no Hello")
        _check_hello(hello, self.names, name)
        if hello.sender >= self.n or self.names[hello.sender] != name:
            raise _PeerRejectedError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"the certificate names {name!r}, but the peer claims to be party {hello.sender}",
            )
        if hello.sender < self.party:
            raise _PeerRejectedError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"party {hello.sender} ({name!r}) awaits party {self.party}, it does not dial it",
            )
        return int(hello.sender)

    # client side: dial lower-index peers ------------------------------------------------------
    async def _dial(self, peer: int, address: str) -> None:
        """Open and serve the stream to ``peer``; on failure record why it is unavailable."""
        ca, key, cert = self.identity.credentials()
        credentials = grpc.ssl_channel_credentials(ca, key, cert)
        options = [*self.limits.options(), ("grpc.ssl_target_name_override", self.names[peer])]
        try:
            async with grpc.aio.secure_channel(address, credentials, options=options) as channel:
                call = await self._open(peer, channel)
                if call is None:
                    return
                link = _Link(peer, call.write)
                self._link(link)
                try:
                    await self._run(link, call.read, half_close=call.done_writing)
                except _PeerRejectedError:
                    call.cancel()
        finally:
            self._linked.set()

    async def _open(self, peer: int, channel: grpc.aio.Channel) -> Any:
        """The call of a stream whose Hellos are exchanged, or None (the reason in _lost).

        A peer whose server is not up yet (UNAVAILABLE) is retried until the timeout.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            call = peer_pb2_grpc.PeerExchangeStub(channel).Connect()
            try:
                await call.write(self._hello())
                reply = await asyncio.wait_for(call.read(), self.timeout)
                _check_reply(reply, self.names, peer)
                return call
            except grpc.aio.AioRpcError as error:
                reason = f"{error.code().name}: {error.details()}"
                retry = error.code() == grpc.StatusCode.UNAVAILABLE
            except (_PeerRejectedError, TimeoutError) as error:
                call.cancel()
                reason, retry = str(error) or "no Hello in time", False
            if not retry or loop.time() >= deadline:
                self._lost[peer] = reason
                return None
            await asyncio.sleep(_RETRY_INTERVAL)

    # sessions ---------------------------------------------------------------------------------
    def _box(self, key: _Key) -> asyncio.Future[_Frame]:
        box = self._boxes.get(key)
        if box is None:
            box = self._boxes[key] = asyncio.get_running_loop().create_future()
        return box

    def _live_sessions(self) -> set[str]:
        """Sessions with a channel here, or with frames waiting for one."""
        return {*self._sessions.keys(), *(key[0] for key in self._boxes)}

    def _stop(self, session_id: str, failure: _Failure) -> None:
        """Fail the session's waiting receives and drop its frames; the first reason stays.
        The reasons of the last _STOPPED_KEPT stopped sessions are kept, for their late frames
        and late starts: a daemon serving for months does not grow with every abort."""
        failure = self._stopped.setdefault(session_id, failure)
        while len(self._stopped) > _STOPPED_KEPT:
            del self._stopped[next(iter(self._stopped))]
        for key in [key for key in self._boxes if key[0] == session_id]:
            box = self._boxes.pop(key)
            if not box.done():
                box.set_exception(failure())

    def _check(self, session_id: str) -> None:
        if session_id in self._stopped:
            raise self._stopped[session_id]()

    async def _send(self, session_id: str, peer: int, frame: _Frame) -> None:
        self._check(session_id)
        self._check_size(frame, peer)
        link = self._links.get(peer)
        if link is None:
            raise self._unavailable(peer, self._lost.get(peer, "not connected"))
        await self._write(link, frame)

    def _check_size(self, frame: _Frame, peer: int) -> None:
        """Refuse a frame over the message limit before it is sent: on the wire it would break
        the stream that every session with that peer shares."""
        size, limit = frame.ByteSize(), self.limits.max_message
        if size > limit:
            raise ProtocolError(
                f"round {frame.round}'s message to {self.names[peer]} would be {_mib(size)}, "
                f"over the {_mib(limit)} one message may carry (max_message_mib): analyse fewer "
                "columns or groups at once, or raise the limit at every party"
            )

    async def _write(self, link: _Link, frame: _Frame) -> None:
        """Write a frame to the peer's stream, shielded from the caller's cancellation: a
        grpc.aio stream cancelled mid-write fails every later write, and the link is shared by
        every session (a cancelled analysis must not break the next one)."""
        await asyncio.shield(self._write_now(link, frame))  # marks a late error as retrieved

    async def _write_now(self, link: _Link, frame: _Frame) -> None:
        try:
            async with link.lock, asyncio.timeout(self.timeout):
                await link.write(frame)
        except (*_STREAM_ERRORS, TimeoutError) as error:
            reason = f"sending failed ({type(error).__name__})"
            self._lose(link, reason)
            raise self._unavailable(link.peer, reason) from None

    async def _receive(self, session_id: str, peer: int, round_id: int) -> _Frame:
        self._check(session_id)
        key = (session_id, peer, round_id)
        box = self._box(key)
        try:
            if not box.done() and peer not in self._links:
                raise self._unavailable(peer, self._lost.get(peer, "not connected"))
            async with asyncio.timeout(self.timeout):
                return await box
        except TimeoutError:
            detail = f"no message for round {round_id} within {self.timeout:g} s"
            raise self._unavailable(peer, detail) from None
        finally:
            if self._boxes.get(key) is box:
                del self._boxes[key]

    async def _abort(self, session_id: str, reason: str) -> None:
        """Stop a session here and tell every linked peer why."""
        self._stop(session_id, functools.partial(ChannelClosedError, reason))
        frame = _Frame(
            session_id=session_id, sender=self.party, abort=peer_pb2.Abort(reason=reason)
        )
        for link in list(self._links.values()):
            with contextlib.suppress(PartyUnavailableError):
                await self._write(link, frame)


class GrpcChannel(Channel):
    """The channel of one session on a party's :class:`GrpcNetwork`."""

    def __init__(self, network: GrpcNetwork, session_id: str, prime: PrimeField) -> None:
        self.network, self.session_id, self.prime = network, session_id, prime
        self.party, self.n = network.party, network.n

    def __repr__(self) -> str:
        return f"GrpcChannel({self.session_id!r}, party={self.party})"

    async def send(self, peer: int, round_id: int, payload: Payload) -> None:
        parts = [encode_tensor(np.asarray(array), self.prime) for array in payload]
        frame = _Frame(session_id=self.session_id, round=round_id, sender=self.party, parts=parts)
        await self.network._send(self.session_id, peer, frame)

    async def receive(self, peer: int, round_id: int) -> Payload:
        frame = await self.network._receive(self.session_id, peer, round_id)
        try:
            return [decode_tensor(tensor, self.prime) for tensor in frame.parts]
        except ValueError as error:
            raise ProtocolError(
                f"party {peer} sent a malformed message for round {round_id}: {error}"
            ) from None

    async def close(self, reason: str = "") -> None:
        await self.network._abort(self.session_id, reason or "the session was closed")


# checks ---------------------------------------------------------------------------------------
def _mib(size: int) -> str:
    return f"{size / 2**20:.3g} MiB"


def _check_configuration(party: int, names: list[str], identity: Identity) -> None:
    if len(set(names)) != len(names):
        raise ConfigurationError(f"party names must be distinct: {names}")
    if not 0 <= party < len(names):
        raise ConfigurationError(f"party id {party} is outside 0..{len(names) - 1}")
    if identity.name != names[party]:
        raise ConfigurationError(
            f"party {party} is {names[party]!r}, but its certificate is {identity.name!r}"
        )


def _check_hello(hello: _Frame, names: list[str], who: str) -> None:
    if list(hello.hello.parties) != names:
        raise _PeerRejectedError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"{who!r} configures the parties as {list(hello.hello.parties)}, this party as {names}",
        )


def _check_reply(reply: Any, names: list[str], peer: int) -> None:
    """The dialled server's Hello: from the peer (TLS verified its name), same federation."""
    if reply is grpc.aio.EOF or not reply.HasField("hello") or reply.sender != peer:
        raise _PeerRejectedError(
            grpc.StatusCode.PERMISSION_DENIED, f"party {peer} sent no valid Hello"
        )
    _check_hello(reply, names, names[peer])
