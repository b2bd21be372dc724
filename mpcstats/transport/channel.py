"""The channel every protocol talks through.

A protocol round is one message per peer: a :data:`Payload`, a list of numpy arrays (shares of
GF(p) as object arrays of ints, shares of GF(2^8) as uint8 arrays). Messages are keyed by the
round number, which all parties advance in step because they run the same program; a channel
belongs to one session, so many sessions can run side by side in one process.

Implementations: :class:`mpcstats.transport.memory.MemoryNetwork` (in process) and the gRPC
transport of the party daemon.
"""

from __future__ import annotations

import abc

import numpy as np

__all__ = ["Channel", "Payload"]

Payload = list[np.ndarray]


class Channel(abc.ABC):
    """A party's endpoint of one session: ordered, reliable, authenticated messages."""

    party: int
    n: int

    @abc.abstractmethod
    async def send(self, peer: int, round_id: int, payload: Payload) -> None:
        """Deliver ``payload`` to ``peer`` for round ``round_id``."""

    @abc.abstractmethod
    async def receive(self, peer: int, round_id: int) -> Payload:
        """The payload ``peer`` sent for round ``round_id``.

        Raises :class:`~mpcstats.PartyUnavailableError` naming the peer when it does not arrive
        in time, and :class:`~mpcstats.ChannelClosedError` once the channel is closed.
        """

    @abc.abstractmethod
    async def close(self, reason: str = "") -> None:
        """Stop the session: pending and later receives fail with ``reason``."""
