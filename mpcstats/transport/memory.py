"""In-process channels for the simulator and the tests.

Payloads are handed over by reference, without serialisation; protocols never modify arrays
they have sent or received, so this is safe and keeps the simulator fast. Byte counts are
computed by the session from each field's wire width, exactly as on the network.
"""

from __future__ import annotations

import asyncio

from mpcstats._errors import ChannelClosedError, PartyUnavailableError
from mpcstats.transport.channel import Channel, Payload

__all__ = ["MemoryChannel", "MemoryNetwork"]


class MemoryNetwork:
    """The mailboxes of one session's n parties."""

    def __init__(self, n: int, timeout: float = 60.0) -> None:
        self.n = n
        self.timeout = timeout
        self._boxes: dict[tuple[int, int, int], asyncio.Future[Payload]] = {}
        self._closed: str | None = None

    def channel(self, party: int) -> MemoryChannel:
        return MemoryChannel(self, party)

    def _box(self, sender: int, receiver: int, round_id: int) -> asyncio.Future[Payload]:
        key = (sender, receiver, round_id)
        box = self._boxes.get(key)
        if box is None:
            box = self._boxes[key] = asyncio.get_running_loop().create_future()
        return box

    def close(self, reason: str) -> None:
        if self._closed is None:
            self._closed = reason or "session closed"
        for box in self._boxes.values():
            if not box.done():
                box.set_exception(ChannelClosedError(self._closed))
                box.exception()  # a party that never waits for it is not an error


class MemoryChannel(Channel):
    def __init__(self, network: MemoryNetwork, party: int) -> None:
        self.network = network
        self.party = party
        self.n = network.n

    async def send(self, peer: int, round_id: int, payload: Payload) -> None:
        if self.network._closed is not None:
            raise ChannelClosedError(self.network._closed)
        box = self.network._box(self.party, peer, round_id)
        if box.done():
            raise RuntimeError(f"party {self.party} sent twice to {peer} in round {round_id}")
        box.set_result(payload)

    async def receive(self, peer: int, round_id: int) -> Payload:
        if self.network._closed is not None:
            raise ChannelClosedError(self.network._closed)
        box = self.network._box(peer, self.party, round_id)
        try:
            payload = await asyncio.wait_for(asyncio.shield(box), self.network.timeout)
        except TimeoutError:
            raise PartyUnavailableError(
                peer, f"no message for round {round_id} within {self.network.timeout:g} s"
            ) from None
        del self.network._boxes[(peer, self.party, round_id)]
        return payload

    async def close(self, reason: str = "") -> None:
        self.network.close(reason)
