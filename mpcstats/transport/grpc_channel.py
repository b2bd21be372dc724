"""Party-to-party transport over gRPC with mutual TLS.

A :class:`GrpcNetwork` is one party's endpoint, shared by all its sessions:

- a ``grpc.aio`` server receives every peer's frames on one client stream per peer;
- one outgoing stream per peer carries this party's frames;
- :class:`GrpcChannel` is the :class:`~mpcstats.transport.channel.Channel` of one session on it.

Identity is the certificate: the server requires a client certificate from the federation's CA
and maps its common name to a party index. A frame claiming another sender is refused with
PERMISSION_DENIED, and a name outside the federation with UNAUTHENTICATED. Clients verify the
peer server's certificate against the peer's configured name. When a peer's stream breaks, every
receive waiting on that peer fails at once with a :class:`~mpcstats.PartyUnavailableError`
naming it; a silent peer is named after the timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import numpy as np

from mpcstats._errors import ChannelClosedError, PartyUnavailableError
from mpcstats.transport.channel import Channel, Payload
from mpcstats.transport.pki import Identity
from mpcstats.v1 import peer_pb2, peer_pb2_grpc

__all__ = ["GrpcChannel", "GrpcNetwork"]

log = logging.getLogger("mpcstats.transport")

MAX_MESSAGE = 256 * 1024 * 1024
_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
_SERVER_OPTIONS = [*_OPTIONS, ("grpc.http2.min_ping_interval_without_data_ms", 5_000)]


def encode_tensor(array: np.ndarray) -> peer_pb2.Tensor:
    """Shares as a typed Tensor: GF(2^8) bytes, or GF(p) fixed-width little-endian integers."""
    if array.dtype == np.uint8:
        return peer_pb2.Tensor(
            kind=peer_pb2.Tensor.GF256, shape=array.shape, width=1, data=array.tobytes()
        )
    flat = [int(v) for v in np.ravel(array)]
    width = max((max(flat, default=0).bit_length() + 7) // 8, 1)
    data = b"".join(v.to_bytes(width, "little") for v in flat)
    return peer_pb2.Tensor(kind=peer_pb2.Tensor.PRIME, shape=array.shape, width=width, data=data)


def decode_tensor(tensor: peer_pb2.Tensor) -> np.ndarray:
    shape = tuple(tensor.shape)
    count = int(np.prod(shape, dtype=np.int64))
    if len(tensor.data) != count * tensor.width:
        raise ValueError("a tensor's data does not match its shape")
    if tensor.kind == peer_pb2.Tensor.GF256:
        return np.frombuffer(tensor.data, dtype=np.uint8).reshape(shape).copy()
    width, data = tensor.width, tensor.data
    out = np.empty(count, dtype=object)
    out[:] = [int.from_bytes(data[i * width : (i + 1) * width], "little") for i in range(count)]
    return out.reshape(shape)


class GrpcNetwork(peer_pb2_grpc.PeerExchangeServicer):
    """One party's gRPC endpoint for all its sessions."""

    def __init__(
        self,
        party: int,
        names: Sequence[str],
        addresses: Sequence[str],
        identity: Identity,
        *,
        listen: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.party, self.names, self.addresses = party, list(names), list(addresses)
        self.n = len(self.names)
        self.identity, self.timeout = identity, timeout
        self.listen = listen or self.addresses[party]
        self._boxes: dict[tuple[str, int, int], asyncio.Future[Payload]] = {}
        self._gone: dict[int, str] = {}  # peers whose stream broke, and why
        self._aborted: dict[str, str] = {}  # sessions stopped by a party, and why
        self._outgoing: dict[int, asyncio.Queue[peer_pb2.PeerFrame | None]] = {}
        self._calls: list[asyncio.Task[Any]] = []
        self._channels: list[grpc.aio.Channel] = []
        self._server: grpc.aio.Server | None = None
        self.port = 0

    def __repr__(self) -> str:
        return f"GrpcNetwork(party={self.names[self.party]!r}, port={self.port})"

    # server ----------------------------------------------------------------------------------
    async def start(self) -> int:
        """Listen (port 0 picks a free port); returns the bound port."""
        ca, key, cert = self.identity.credentials()
        credentials = grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=True
        )
        self._server = grpc.aio.server(options=_SERVER_OPTIONS)
        peer_pb2_grpc.add_PeerExchangeServicer_to_server(self, self._server)
        self.port = self._server.add_secure_port(self.listen, credentials)
        await self._server.start()
        return self.port

    async def Deliver(  # noqa: N802 - the RPC's name in the proto
        self, request_iterator: AsyncIterator[peer_pb2.PeerFrame], context: grpc.aio.ServicerContext
    ) -> peer_pb2.DeliveryReceipt:
        sender = await self._authenticate(context)
        frames = 0
        try:
            async for frame in request_iterator:
                if frame.sender != sender:
                    await context.abort(
                        grpc.StatusCode.PERMISSION_DENIED,
                        f"the certificate names party {self.names[sender]!r} but the frame "
                        f"claims party {frame.sender}",
                    )
                self._accept(sender, frame)
                frames += 1
        except (asyncio.CancelledError, grpc.aio.AioRpcError) as error:
            self._peer_lost(sender, f"its stream broke ({type(error).__name__})")
            raise
        self._peer_lost(sender, "it closed its stream")
        return peer_pb2.DeliveryReceipt(frames=frames)

    async def _authenticate(self, context: grpc.aio.ServicerContext) -> int:
        names = context.auth_context().get("x509_common_name", [])
        name = names[0].decode() if names else ""
        if name not in self.names or self.names.index(name) == self.party:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                f"certificate {name or '(none)'!r} is not a peer of "
                f"party {self.names[self.party]!r}",
            )
        return self.names.index(name)

    def _accept(self, sender: int, frame: peer_pb2.PeerFrame) -> None:
        if frame.abort:
            self._abort_local(frame.session_id, f"party {sender} stopped: {frame.abort}")
            return
        box = self._box(frame.session_id, sender, frame.round)
        if not box.done():
            box.set_result([decode_tensor(t) for t in frame.parts])

    def _box(self, session_id: str, sender: int, round_id: int) -> asyncio.Future[Payload]:
        key = (session_id, sender, round_id)
        if key not in self._boxes:
            self._boxes[key] = asyncio.get_running_loop().create_future()
        return self._boxes[key]

    def _peer_lost(self, peer: int, reason: str) -> None:
        self._gone.setdefault(peer, reason)
        log.warning("peer %s unavailable: %s", self.names[peer], reason)
        for (_, sender, _), box in self._boxes.items():
            if sender == peer and not box.done():
                box.set_exception(PartyUnavailableError(peer, reason))
                box.exception()

    def _abort_local(self, session_id: str, reason: str) -> None:
        self._aborted.setdefault(session_id, reason)
        for (session, _, _), box in self._boxes.items():
            if session == session_id and not box.done():
                box.set_exception(ChannelClosedError(reason))
                box.exception()

    # client ----------------------------------------------------------------------------------
    def _stream_to(self, peer: int) -> asyncio.Queue[peer_pb2.PeerFrame | None]:
        if peer not in self._outgoing:
            queue: asyncio.Queue[peer_pb2.PeerFrame | None] = asyncio.Queue()
            self._outgoing[peer] = queue
            self._calls.append(asyncio.ensure_future(self._deliver(peer, queue)))
        return self._outgoing[peer]

    async def _deliver(self, peer: int, queue: asyncio.Queue[peer_pb2.PeerFrame | None]) -> None:
        ca, key, cert = self.identity.credentials()
        credentials = grpc.ssl_channel_credentials(ca, key, cert)
        options = [*_OPTIONS, ("grpc.ssl_target_name_override", self.names[peer])]
        channel = grpc.aio.secure_channel(self.addresses[peer], credentials, options=options)
        self._channels.append(channel)

        async def frames() -> AsyncIterator[peer_pb2.PeerFrame]:
            while (frame := await queue.get()) is not None:
                yield frame

        try:  # peers start in any order: wait for the connection, up to the timeout
            await asyncio.wait_for(channel.channel_ready(), self.timeout)
        except TimeoutError:
            self._peer_lost(
                peer,
                f"no connection to {self.addresses[peer]} within {self.timeout:g} s "
                "(the daemon is down, or TLS was refused)",
            )
            return
        try:
            await peer_pb2_grpc.PeerExchangeStub(channel).Deliver(frames())
        except grpc.aio.AioRpcError as error:
            self._peer_lost(peer, f"{error.code().name}: {error.details()}")

    async def send(self, peer: int, frame: peer_pb2.PeerFrame) -> None:
        if peer in self._gone:
            raise PartyUnavailableError(peer, self._gone[peer])
        await self._stream_to(peer).put(frame)

    async def receive(self, session_id: str, peer: int, round_id: int) -> Payload:
        if session_id in self._aborted:
            raise ChannelClosedError(self._aborted[session_id])
        box = self._box(session_id, peer, round_id)
        if peer in self._gone and not box.done():
            raise PartyUnavailableError(peer, self._gone[peer])
        try:
            payload = await asyncio.wait_for(asyncio.shield(box), self.timeout)
        except TimeoutError:
            raise PartyUnavailableError(
                peer, f"no message for round {round_id} within {self.timeout:g} s"
            ) from None
        del self._boxes[(session_id, peer, round_id)]
        return payload

    async def abort(self, session_id: str, reason: str) -> None:
        """Stop a session here and tell every reachable peer."""
        self._abort_local(session_id, reason)
        for peer in range(self.n):
            if peer != self.party and peer not in self._gone:
                frame = peer_pb2.PeerFrame(session_id=session_id, sender=self.party, abort=reason)
                await self._stream_to(peer).put(frame)

    def channel(self, session_id: str) -> GrpcChannel:
        return GrpcChannel(self, session_id)

    async def close(self, grace: float = 1.0) -> None:
        """Finish the outgoing streams and stop the server (graceful: ``grace`` seconds)."""
        for queue in self._outgoing.values():
            await queue.put(None)
        if self._calls:
            await asyncio.wait(self._calls, timeout=grace)
        for channel in self._channels:
            await channel.close()
        if self._server is not None:
            await self._server.stop(grace)


class GrpcChannel(Channel):
    """The channel of one session on a party's :class:`GrpcNetwork`."""

    def __init__(self, network: GrpcNetwork, session_id: str) -> None:
        self.network, self.session_id = network, session_id
        self.party, self.n = network.party, network.n

    async def send(self, peer: int, round_id: int, payload: Payload) -> None:
        frame = peer_pb2.PeerFrame(
            session_id=self.session_id,
            round=round_id,
            sender=self.party,
            parts=[encode_tensor(np.asarray(part)) for part in payload],
        )
        await self.network.send(peer, frame)

    async def receive(self, peer: int, round_id: int) -> Payload:
        return await self.network.receive(self.session_id, peer, round_id)

    async def close(self, reason: str = "") -> None:
        await self.network.abort(self.session_id, reason or "session closed")
