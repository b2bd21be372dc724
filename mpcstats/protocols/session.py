"""A party's view of one secure computation.

A :class:`Session` holds the party's id, n, the threshold t, the prime field, the security margin
kappa, the party's private randomness, its PRSS keys and its :class:`Channel`. It owns the round
counter: :meth:`Session.exchange` is the single way protocols communicate, one message per peer
per round, and it counts rounds and bytes into :attr:`Session.stats`. Nothing is global, so any
number of sessions run concurrently in one process.

PRSS keys are agreed in a round of their own (:meth:`Session.setup`), or, after
:meth:`Session.prepare_setup`, carried by the session's first all-to-all round (every statistic
starts by pooling its aggregates with :func:`~mpcstats.protocols.sharing.input_all`), which saves
that round. Until the keys have arrived, reading :attr:`Session.prss` is an error, not None, so
no protocol silently falls back to interactive randomness.

A session given a request digest (the hash of the analysis request this party received, see
:mod:`mpcstats.request`) binds its parties to one request: the digest travels with the
session's first all-to-all round, and each party compares every peer's digest with its own
before it returns any of that round's payloads, raising :class:`RequestMismatchError` if one
differs. A session whose first round is not all-to-all runs a round of digests first, so no
payload leaves a party before the parties agree. Piggybacking is safe because the first round
carries at most one degree-t Shamir share of a party's input to each peer (uniformly random
on its own, whatever the input), and nothing received is used before the comparison.

:meth:`Session.together` runs independent protocols side by side with their rounds merged: the
r-th message to a peer carries every protocol's r-th message to it, so the whole costs the
rounds of the longest protocol, and still one message per peer per round.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mpcstats._errors import ConfigurationError, ProtocolError, RequestMismatchError
from mpcstats.core.field import DEFAULT_MODULUS_BITS, PrimeField
from mpcstats.core.gf256 import GF256
from mpcstats.core.prss import PRSS, dealer, prss_available, unqualified_sets
from mpcstats.core.randomness import Stream
from mpcstats.transport.channel import Channel, Payload

__all__ = ["DEFAULT_KAPPA", "Opening", "Session", "Stats", "max_threshold"]

DEFAULT_KAPPA = 40


def max_threshold(n: int) -> int:
    """The honest-majority threshold t = floor((n - 1) / 2)."""
    return (n - 1) // 2


@dataclass
class Opening:
    """A record of one opened batch: who learned it, what it was for, how many values."""

    label: str
    field: str
    count: int
    receiver: int | None  # None: all parties
    values: np.ndarray | None = None  # kept only when the session records openings (tests)


@dataclass
class Stats:
    """Communication of one party: rounds, bytes and messages sent, and what was opened."""

    rounds: int = 0
    bytes_sent: int = 0
    messages_sent: int = 0
    openings: list[Opening] = field(default_factory=list)

    def snapshot(self) -> tuple[int, int, int]:
        return self.rounds, self.bytes_sent, self.messages_sent


class Session:
    """One party's state in one secure computation."""

    def __init__(
        self,
        party: int,
        n: int,
        channel: Channel,
        *,
        modulus_bits: int = DEFAULT_MODULUS_BITS,
        modulus: int | None = None,
        threshold: int | None = None,
        kappa: int = DEFAULT_KAPPA,
        record_openings: bool = False,
        request_digest: bytes | None = None,
        names: Sequence[str] = (),
    ) -> None:
        if not 3 <= n <= 16:
            raise ConfigurationError(f"mpcstats runs with 3 to 16 compute parties, not {n}")
        t = max_threshold(n) if threshold is None else threshold
        if not 1 <= t <= max_threshold(n):
            raise ConfigurationError(
                f"threshold t={t} is not an honest majority for n={n}: use 1..{max_threshold(n)}"
            )
        if not 0 <= party < n:
            raise ConfigurationError(f"party id {party} is outside 0..{n - 1}")
        if names and len(names) != n:
            raise ConfigurationError(f"{len(names)} party names for {n} parties")
        if kappa < 30:
            raise ConfigurationError(f"a statistical security margin of {kappa} bits is too small")
        self.party, self.n, self.t, self.kappa = party, n, t, kappa
        self.field = (
            PrimeField(modulus) if modulus is not None else PrimeField.with_bits(modulus_bits)
        )
        self.gf256 = GF256()
        self.channel = channel
        self.stream = Stream(os.urandom(32))
        self.stats = Stats()
        self.record_openings = record_openings
        self._prss: PRSS | None = None
        self._deal: _KeyDeal | None = None  # keys drawn, waiting for the first all-to-all round
        self._round = 0
        self.request_digest = request_digest
        self.names = list(names)  # for messages; parties are numbered when it is empty
        self._unbound = request_digest is not None  # until every peer's digest matched

    def __repr__(self) -> str:
        return f"Session(party={self.party}, n={self.n}, t={self.t}, field={self.field!r})"

    @property
    def prss(self) -> PRSS | None:
        """The PRSS keys, or None for sessions too large for PRSS."""
        if self._deal is not None:
            raise ProtocolError(
                "the PRSS keys travel with the session's first input_all round, which has not "
                "run yet: call `await session.setup()` before this protocol"
            )
        return self._prss

    @property
    def output_degree(self) -> int:
        """The degree of output shares: 2t when they are re-randomised with PRSS, else t."""
        return 2 * self.t if prss_available(self.n, self.t) else self.t

    @property
    def contributors(self) -> range:
        """The t + 1 parties that contribute randomness: at least one of them is honest."""
        return range(self.t + 1)

    # communication ------------------------------------------------------------------------
    def _nbytes(self, payload: Payload) -> int:
        return sum(
            self.gf256.nbytes(a) if a.dtype == np.uint8 else self.field.nbytes(a) for a in payload
        )

    async def exchange(
        self, outgoing: Mapping[int, Payload], expect: Iterable[int], *, all_to_all: bool = False
    ) -> dict[int, Payload]:
        """One round: send each peer its payload, then receive from the ``expect``ed peers.

        ``all_to_all`` declares that every party sends to and expects from every other party in
        this round; the first such round carries the PRSS keys of :meth:`prepare_setup`. Inside
        :meth:`together`, the round waits for the other protocols' rounds and travels with them.
        """
        merger = _MERGER.get()
        if merger is not None and merger.session is self:
            return await merger.exchange(outgoing, expect, all_to_all)
        return await self._exchange_now(outgoing, expect, all_to_all)

    async def together(self, *programs: Coroutine[Any, Any, Any]) -> list[Any]:
        """The results of independent protocols run side by side, their rounds merged.

        Each merged round waits until every unfinished protocol has its next round ready, then
        sends each peer one message holding all of them. The protocols must not depend on each
        other's progress. Between rounds they resume in argument order at every party, so their
        local draws (private or PRSS randomness) keep the same order everywhere.
        """
        return await _Merger(self).run(programs)

    async def _exchange_now(
        self, outgoing: Mapping[int, Payload], expect: Iterable[int], all_to_all: bool
    ) -> dict[int, Payload]:
        if self._unbound and not all_to_all:  # nothing may leave before the parties agree
            digests_only: dict[int, Payload] = {j: [] for j in self._peers()}
            await self._exchange_now(digests_only, range(self.n), True)
        deal = self._deal if all_to_all else None
        if deal is not None:
            outgoing = {j: [*payload, deal.keys_for(j)] for j, payload in outgoing.items()}
        binding = self.request_digest if all_to_all and self._unbound else None
        if binding is not None:
            stamp = np.frombuffer(binding, dtype=np.uint8)
            outgoing = {j: [*payload, stamp] for j, payload in outgoing.items()}
        self._round += 1
        round_id = self._round
        self.stats.rounds += 1
        for peer, payload in outgoing.items():
            if peer == self.party:
                raise ConfigurationError("a party does not send to itself")
            self.stats.bytes_sent += self._nbytes(payload)
            self.stats.messages_sent += 1
            await self.channel.send(peer, round_id, payload)
        received = {
            peer: await self.channel.receive(peer, round_id)
            for peer in expect
            if peer != self.party
        }
        if binding is not None:
            received = self._bind(binding, received)
        if deal is not None:
            self._finish_setup(deal, {j: payload[-1] for j, payload in received.items()})
            received = {j: payload[:-1] for j, payload in received.items()}
        return received

    def _peers(self) -> list[int]:
        return [j for j in range(self.n) if j != self.party]

    def _bind(self, digest: bytes, received: Mapping[int, Payload]) -> dict[int, Payload]:
        """The peers' payloads without their request digests, once all equal ``digest``.

        Every party sends its first message before it receives any, so unless the session is
        aborted (the daemon does not abort on a mismatch), every party holds every digest and
        refuses on its own evidence."""
        differing = {
            j: _stamp(payload) for j, payload in received.items() if _stamp(payload) != digest
        }
        if differing:
            raise self._mismatch(digest, differing)
        self._unbound = False
        return {j: payload[:-1] for j, payload in received.items()}

    def _mismatch(
        self, digest: bytes, differing: Mapping[int, bytes | None]
    ) -> RequestMismatchError:
        who = tuple(self._name(j) for j in sorted(differing))
        theirs = ", ".join(
            f"{self._name(j)} ({_prefix(stamp)})" for j, stamp in sorted(differing.items())
        )
        return RequestMismatchError(
            f"the analysis request differs at {theirs} from {self._name(self.party)}'s "
            f"({_prefix(digest)}): the parties refuse the session before using anything a "
            "peer sent",
            who,
        )

    def _name(self, party: int) -> str:
        return self.names[party] if self.names else f"party {party}"

    def record(self, label: str, kind: str, values: np.ndarray, receiver: int | None) -> None:
        """Log an opening; only the opening protocol calls this."""
        kept = np.array(values, copy=True) if self.record_openings else None
        self.stats.openings.append(Opening(label, kind, int(np.size(values)), receiver, kept))

    # set-up -------------------------------------------------------------------------------
    def prepare_setup(self) -> None:
        """Draw this party's PRSS keys now; they travel with the first all-to-all round.

        Saves the round of :meth:`setup` for programs that start by pooling (every statistic)."""
        if prss_available(self.n, self.t) and self._prss is None:
            self._deal = _KeyDeal.draw(self.party, self.n, self.t)

    async def setup(self) -> None:
        """Agree PRSS keys: for each set A of t parties, A's dealer sends k_A to the others
        outside A (one round). Sessions too large for PRSS skip this."""
        if not prss_available(self.n, self.t) or self._prss is not None:
            return
        deal = self._deal or _KeyDeal.draw(self.party, self.n, self.t)
        self._deal = None
        payloads = {j: [deal.keys_for(j)] for j in self._peers()}
        received = await self.exchange(payloads, range(self.n), all_to_all=True)
        self._finish_setup(deal, {j: payload[0] for j, payload in received.items()})

    def _finish_setup(self, deal: _KeyDeal, received: Mapping[int, np.ndarray]) -> None:
        self._deal = None
        self._prss = PRSS(self.party, self.n, self.t, deal.keys(received))


def _stamp(payload: Payload) -> bytes | None:
    """The request digest a peer's first message ends with, or None if it ends otherwise."""
    last = payload[-1] if payload else None
    return last.tobytes() if last is not None and last.dtype == np.uint8 else None


def _prefix(digest: bytes | None) -> str:
    """A digest's first 12 hex digits, for messages."""
    return "request " + digest.hex()[:12] if digest is not None else "no request digest"


@dataclass
class _KeyDeal:
    """One party's side of the PRSS key agreement: the keys it deals and the sets it needs."""

    party: int
    n: int
    sets: list[frozenset[int]]  # the sets A this party lies outside of, in the agreed order
    dealt: dict[frozenset[int], bytes]

    @classmethod
    def draw(cls, party: int, n: int, t: int) -> _KeyDeal:
        sets = [a for a in unqualified_sets(n, t) if party not in a]
        dealt = {a: os.urandom(32) for a in sets if dealer(a, n) == party}
        return cls(party, n, sets, dealt)

    def keys_for(self, peer: int) -> np.ndarray:
        """The keys ``peer`` receives from this party (every set it dealt that excludes peer),
        as bytes; possibly none."""
        keys = [key for a, key in self.dealt.items() if peer not in a]
        return np.frombuffer(b"".join(keys), dtype=np.uint8)

    def keys(self, received: Mapping[int, np.ndarray]) -> dict[frozenset[int], bytes]:
        """Every key of this party's sets: its own, and those its dealers sent, in order."""
        keys = dict(self.dealt)
        offsets = dict.fromkeys(received, 0)
        for a in self.sets:
            d = dealer(a, self.n)
            if d != self.party:
                data = received[d]
                keys[a] = data[offsets[d] : offsets[d] + 32].tobytes()
                offsets[d] += 32
        return keys


# inside Session.together: the merger a protocol's rounds go to, and the protocol's position
_MERGER: contextvars.ContextVar[_Merger | None] = contextvars.ContextVar("merger", default=None)
_PROGRAM: contextvars.ContextVar[int] = contextvars.ContextVar("program", default=0)


@dataclass
class _Round:
    """One protocol's next round inside :meth:`Session.together`."""

    outgoing: Mapping[int, Payload]
    expect: set[int]
    all_to_all: bool
    reply: asyncio.Future[dict[int, Payload]]


class _Merger:
    """Runs :meth:`Session.together`: protocols as tasks whose rounds it sends as one.

    A merged message to a peer starts with a uint8 header, each protocol's number of arrays in
    it (in argument order, 0 when it sends that peer nothing), followed by those arrays.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.waiting: dict[int, _Round] = {}
        self.changed = asyncio.Event()

    async def exchange(
        self, outgoing: Mapping[int, Payload], expect: Iterable[int], all_to_all: bool
    ) -> dict[int, Payload]:
        index = _PROGRAM.get()
        reply = asyncio.get_running_loop().create_future()
        self.waiting[index] = _Round(outgoing, set(expect), all_to_all, reply)
        self.changed.set()
        return await reply

    async def run(self, programs: tuple[Coroutine[Any, Any, Any], ...]) -> list[Any]:
        tasks = [self._start(index, program) for index, program in enumerate(programs)]
        try:
            while True:
                running = [i for i, task in enumerate(tasks) if not task.done()]
                failed = [task for task in tasks if task.done() and task.exception()]
                if failed:
                    raise failed[0].exception()  # type: ignore[misc]
                if not running:
                    return [task.result() for task in tasks]
                if len(self.waiting) == len(running):
                    await self._merged_round()
                else:  # until a protocol finishes or has its next round ready
                    self.changed.clear()
                    changed = asyncio.ensure_future(self.changed.wait())
                    try:
                        await asyncio.wait(
                            [*(tasks[i] for i in running), changed],
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    finally:
                        changed.cancel()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, index: int, program: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        context = contextvars.copy_context()
        context.run(_MERGER.set, self)
        context.run(_PROGRAM.set, index)
        return asyncio.get_running_loop().create_task(program, context=context)

    async def _merged_round(self) -> None:
        rounds = sorted(self.waiting.items())
        self.waiting = {}
        peers = {j for _, r in rounds for j in r.outgoing}
        outgoing = {}
        for j in peers:
            parts = [list(r.outgoing.get(j, [])) for _, r in rounds]
            if max(len(p) for p in parts) > 255:
                raise ProtocolError("a merged round carries at most 255 arrays per protocol")
            header = np.array([len(p) for p in parts], dtype=np.uint8)
            outgoing[j] = [header, *(a for p in parts for a in p)]
        expect = set().union(*(r.expect for _, r in rounds))
        all_to_all = any(r.all_to_all for _, r in rounds)
        received = await self.session.exchange(outgoing, expect, all_to_all=all_to_all)
        replies: list[dict[int, Payload]] = [{} for _ in rounds]
        for j, payload in received.items():
            counts = [int(c) for c in payload[0]]
            if len(counts) != len(rounds) or sum(counts) != len(payload) - 1:
                raise ProtocolError(f"party {j} merged a different set of protocols")
            start = 1
            for k, count in enumerate(counts):
                if j in rounds[k][1].expect:
                    replies[k][j] = payload[start : start + count]
                start += count
        for (_, r), reply in zip(rounds, replies, strict=True):
            r.reply.set_result(reply)
