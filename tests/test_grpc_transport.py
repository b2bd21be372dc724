"""The protocols over real gRPC with mutual TLS: in one event loop and across processes, with
certificates from another CA, impostors, aborted sessions and a party killed mid-session."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest

import mpcstats
from mpcstats import ChannelClosedError, MpcStatsError, PartyUnavailableError, ProtocolError
from mpcstats import protocols as P
from mpcstats.core.field import PrimeField
from mpcstats.protocols.session import Session
from mpcstats.transport import grpc_channel
from mpcstats.transport.grpc_channel import (
    GrpcChannel,
    GrpcNetwork,
    Limits,
    decode_tensor,
    encode_tensor,
)
from mpcstats.transport.pki import Identity, create_ca, issue

T = TypeVar("T")

NAMES = ["hosp_a", "hosp_b", "hosp_c"]
LOOPBACK = "127.0.0.1:0"
X = np.array([5, -3, 0, 2**31 - 1, 12, -(2**31) + 1], dtype=np.int64)
Y = np.array([4, -3, 1, 2**31 - 1, 13, 7], dtype=np.int64)
EXPECTED = [
    [int(a) * int(b) for a, b in zip(X, Y, strict=True)],
    [int(a < b) for a, b in zip(X, Y, strict=True)],
]


def _pki(folder: Path) -> list[Identity]:
    ca = create_ca(folder)
    return [issue(ca, name) for name in NAMES]


async def _program(session: Session) -> list[list[int]]:
    """Inputs of two owners, a product and a comparison, opened to all."""
    await session.setup()
    x = await P.input(session, X if session.party == 0 else None, owner=0, bits=32)
    y = await P.input(session, Y if session.party == 1 else None, owner=1, bits=32)
    products = await P.open(session, await P.mul(session, x, y))
    less = await P.open(session, await P.lt(session, x, y))
    return [[int(v) for v in products], [int(v) for v in less]]


async def _federation(
    identities: list[Identity], timeout: float = 10.0, limits: dict[int, Limits] | None = None
) -> tuple[list[GrpcNetwork], list[BaseException | None]]:
    """Networks for ``identities`` (by index) on loopback port 0, started and connected;
    ``limits`` of some parties differ from the default."""
    networks = [
        GrpcNetwork(
            i,
            NAMES,
            identity,
            listen=LOOPBACK,
            timeout=timeout,
            limits=(limits or {}).get(i, Limits()),
        )
        for i, identity in enumerate(identities)
    ]
    for network in networks:
        await network.start()
    outcomes = await asyncio.gather(
        *(_connect(network, networks) for network in networks), return_exceptions=True
    )
    return networks, list(outcomes)


async def _connect(network: GrpcNetwork, networks: list[GrpcNetwork]) -> None:
    await network.connect([f"127.0.0.1:{other.port}" for other in networks])


async def _error(awaitable: Awaitable[Any]) -> MpcStatsError:
    """The error ``awaitable`` raises; the test fails if it returns."""
    with pytest.raises(MpcStatsError) as caught:
        await awaitable
    return caught.value


def _run(
    identities: list[Identity],
    body: Callable[[list[GrpcNetwork]], Awaitable[T]],
    limits: dict[int, Limits] | None = None,
) -> T:
    """Start and connect a federation, run ``body`` on it, always close it."""

    async def main() -> T:
        networks, outcomes = await _federation(identities, limits=limits)
        try:
            assert outcomes == [None] * len(networks)
            return await body(networks)
        finally:
            await asyncio.gather(*(network.close() for network in networks))

    return asyncio.run(main())


def test_tensors_keep_values_shapes_and_the_fields_fixed_width() -> None:
    for bits in (127, 256):
        prime = PrimeField.with_bits(bits)
        values = prime.array([[0, 1, -1], [2**100, -(2**90), 7]])
        tensor = encode_tensor(values, prime)
        assert len(tensor.data) == 6 * prime.width  # the size never depends on the values
        decoded = decode_tensor(tensor, prime)
        assert decoded.dtype == object and decoded.shape == (2, 3)
        assert decoded.tolist() == values.tolist()
    gf = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(decode_tensor(encode_tensor(gf, prime), prime), gf)
    empty = decode_tensor(encode_tensor(prime.zeros((0,)), prime), prime)
    assert empty.shape == (0,)
    with pytest.raises(ValueError, match="disagree on the modulus"):
        narrow = PrimeField.with_bits(127)
        decode_tensor(encode_tensor(narrow.array([1, 2]), narrow), prime)


def test_protocols_run_over_mutual_tls_in_one_event_loop(tmp_path: Path) -> None:
    async def body(networks: list[GrpcNetwork]) -> list[Any]:
        # concurrent sessions on the same networks stay isolated by their ids
        sessions = [
            Session(i, 3, network.channel(study))
            for study in ("study-1", "study-2", "study-3")
            for i, network in enumerate(networks)
        ]
        return await asyncio.gather(*(_program(s) for s in sessions))

    assert _run(_pki(tmp_path), body) == [EXPECTED] * 9


def test_a_closed_session_stops_at_every_party_and_others_continue(tmp_path: Path) -> None:
    async def body(networks: list[GrpcNetwork]) -> tuple[list[MpcStatsError], list[Any]]:
        doomed = [network.channel("doomed") for network in networks]
        waiting = [asyncio.ensure_future(_error(doomed[i].receive(0, 1))) for i in (1, 2)]
        await doomed[0].close("the analyst withdrew")
        errors = await asyncio.gather(*waiting)
        others = [Session(i, 3, network.channel("other")) for i, network in enumerate(networks)]
        return errors, await asyncio.gather(*(_program(s) for s in others))

    errors, results = _run(_pki(tmp_path), body)
    assert all(isinstance(e, ChannelClosedError) for e in errors)
    assert all("party 0 stopped the session: the analyst withdrew" in str(e) for e in errors)
    assert results == [EXPECTED] * 3


def test_a_party_that_leaves_in_order_still_delivers_what_it_sent(tmp_path: Path) -> None:
    shares = np.arange(4, dtype=np.uint8)

    async def body(networks: list[GrpcNetwork]) -> list[Any]:
        await networks[2].channel("study").send(0, 1, [shares])
        channel = networks[0].channel("study")
        from_1 = asyncio.ensure_future(channel.receive(1, 1))
        from_2 = asyncio.ensure_future(_error(channel.receive(2, 2)))  # 2 never sends it
        await asyncio.sleep(0)
        await networks[2].close()
        sent_before = await channel.receive(2, 1)
        await networks[1].channel("study").send(0, 1, [shares[::-1].copy()])
        return [sent_before, await from_1, await from_2]

    sent_before, from_1, from_2 = _run(_pki(tmp_path), body)
    assert np.array_equal(sent_before[0], shares) and np.array_equal(from_1[0], shares[::-1])
    assert isinstance(from_2, PartyUnavailableError) and from_2.party == 2
    assert "closed its network" in str(from_2)


def test_a_restarted_party_rejoins_for_new_sessions(tmp_path: Path) -> None:
    identities = _pki(tmp_path)

    async def restart(networks: list[GrpcNetwork], party: int, listen: str) -> None:
        await networks[party].close()
        networks[party] = GrpcNetwork(party, NAMES, identities[party], listen=listen)
        await networks[party].start()
        addresses = [f"127.0.0.1:{network.port}" for network in networks]
        await asyncio.gather(*(network.connect(addresses) for network in networks))

    async def body(networks: list[GrpcNetwork]) -> list[Any]:
        results = []
        for study, party in (("after-2", 2), ("after-0", 0)):  # 2 dials its peers, 0 is dialled
            await restart(networks, party, f"127.0.0.1:{networks[party].port}")
            sessions = [Session(i, 3, network.channel(study)) for i, network in enumerate(networks)]
            results += await asyncio.gather(*(_program(s) for s in sessions))
        return results

    assert _run(identities, body) == [EXPECTED] * 6


def test_a_silent_peer_is_named_after_the_timeout(tmp_path: Path) -> None:
    async def main() -> MpcStatsError:
        networks, _ = await _federation(_pki(tmp_path), timeout=0.5)
        try:
            return await _error(networks[0].channel("study").receive(2, 7))
        finally:
            await asyncio.gather(*(network.close() for network in networks))

    error = asyncio.run(main())
    assert isinstance(error, PartyUnavailableError) and error.party == 2
    assert "round 7 within 0.5 s" in str(error)


@pytest.mark.parametrize("intruder", [0, 2], ids=["honest-parties-dial-it", "it-dials"])
def test_a_certificate_from_another_ca_fails_the_handshake(tmp_path: Path, intruder: int) -> None:
    identities = _pki(tmp_path / "federation")
    rogue_ca = create_ca(tmp_path / "rogue", "rogue CA")
    identities[intruder] = issue(rogue_ca, NAMES[intruder])

    async def main() -> list[BaseException | None]:
        networks, outcomes = await _federation(identities, timeout=2.0)
        await asyncio.gather(*(network.close() for network in networks))
        return outcomes

    outcomes = asyncio.run(main())
    for i, outcome in enumerate(outcomes):
        assert isinstance(outcome, PartyUnavailableError), outcome
        if i != intruder:  # nobody links with the intruder, and they say who it is
            assert outcome.party == intruder
    assert "CERTIFICATE_VERIFY_FAILED" in str(outcomes[1 if intruder == 0 else intruder])


@pytest.mark.parametrize(
    ("certificate", "refusal"),
    [("hosp_b", "PERMISSION_DENIED"), ("mallory", "UNAUTHENTICATED")],
    ids=["another-partys-name", "a-name-outside-the-federation"],
)
def test_a_peer_claiming_another_identity_is_refused(
    tmp_path: Path, certificate: str, refusal: str
) -> None:
    ca = create_ca(tmp_path)
    identities = [issue(ca, name) for name in NAMES]
    # party 2's process holds a valid certificate of the federation's CA with another name
    identities[2] = dataclasses.replace(issue(ca, certificate, tmp_path / "x"), name="hosp_c")

    async def main() -> list[BaseException | None]:
        networks, outcomes = await _federation(identities, timeout=2.0)
        await asyncio.gather(*(network.close() for network in networks))
        return outcomes

    honest_a, honest_b, impostor = asyncio.run(main())
    assert isinstance(impostor, PartyUnavailableError)
    assert refusal in str(impostor) and repr(certificate) in str(impostor)
    for honest in (honest_a, honest_b):
        assert isinstance(honest, PartyUnavailableError) and honest.party == 2


# across processes -----------------------------------------------------------------------------
def _party_process(
    index: int,
    identity: Identity,
    addresses: Any,
    results: Any,
    fault: str | None,
    limits: Limits,
    timeout: float,
) -> None:
    """One hospital's daemon: listen on port 0, report the port, connect, compute; with a
    ``fault`` it dies ("crash") or hangs ("freeze": its connections stay open) mid-session."""

    async def main() -> None:
        network = GrpcNetwork(
            index, NAMES, identity, listen=LOOPBACK, timeout=timeout, limits=limits
        )
        results.put(("port", index, await network.start()))
        try:
            await network.connect(addresses.get(timeout=30))
            session = Session(index, 3, network.channel("study"))
            started = time.monotonic()
            if fault:
                await session.setup()
                await P.input(session, X if index == 0 else None, owner=0, bits=32)
                if fault == "crash":
                    os._exit(1)  # the hospital's daemon dies mid-session
                os.kill(os.getpid(), signal.SIGSTOP)  # its machine hangs, sockets open
            try:
                results.put(("done", index, await _program(session), None, 0.0))
            except PartyUnavailableError as error:
                results.put(("done", index, None, error.party, time.monotonic() - started))
        finally:
            await network.close()

    asyncio.run(main())


def _run_processes(
    tmp_path: Path,
    fault: tuple[int, str] | None = None,
    limits: Limits | None = None,
    timeout: float = 8.0,
) -> list[tuple[Any, ...]]:
    """Each party in a process of its own; ``fault`` is (party, "crash" or "freeze")."""
    identities = _pki(tmp_path)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    inboxes = [context.Queue() for _ in NAMES]
    faults = dict([fault] if fault else [])
    processes = [
        context.Process(
            target=_party_process,
            args=(
                i,
                identities[i],
                inboxes[i],
                results,
                faults.get(i),
                limits or Limits(),
                timeout,
            ),
        )
        for i in range(len(NAMES))
    ]
    for process in processes:
        process.start()
    try:
        ports = dict(results.get(timeout=30)[1:] for _ in processes)
        addresses = [f"127.0.0.1:{ports[i]}" for i in range(len(NAMES))]
        for inbox in inboxes:
            inbox.put(addresses)
        survivors = len(NAMES) - len(faults)
        done = [results.get(timeout=30)[1:] for _ in range(survivors)]
    finally:
        for i, process in enumerate(processes):
            process.join(timeout=0 if i in faults else 15)  # a frozen party never ends
            if process.is_alive():
                process.kill()
                process.join()
    return sorted(done, key=lambda item: item[0])


def test_three_daemon_processes_compute_together(tmp_path: Path) -> None:
    outcomes = _run_processes(tmp_path)
    assert [outcome[1] for outcome in outcomes] == [EXPECTED] * 3


def test_a_killed_party_is_named_by_the_others_within_10_seconds(tmp_path: Path) -> None:
    outcomes = _run_processes(tmp_path, fault=(2, "crash"))
    assert [outcome[0] for outcome in outcomes] == [0, 1]
    assert all(outcome[2] == 2 and outcome[3] < 10 for outcome in outcomes), outcomes


def test_keepalive_names_a_hung_party_long_before_the_timeout(tmp_path: Path) -> None:
    """A party whose process hangs keeps its TCP connections open: no error reaches its peers,
    only the missing answers to their keepalive pings (1 s apart, 1 s to answer here) do."""
    fast = Limits(keepalive=1.0, keepalive_timeout=1.0)
    outcomes = _run_processes(tmp_path, fault=(2, "freeze"), limits=fast, timeout=60.0)
    assert [outcome[0] for outcome in outcomes] == [0, 1]
    assert all(outcome[2] == 2 and outcome[3] < 10 for outcome in outcomes), outcomes


def test_malformed_shares_are_a_protocol_error_naming_the_sender(tmp_path: Path) -> None:
    async def body(networks: list[GrpcNetwork]) -> MpcStatsError:
        wide = PrimeField.with_bits(256)
        await networks[1].channel("study", wide).send(0, 1, [wide.array([1, 2])])
        return await _error(networks[0].channel("study").receive(1, 1))

    error = _run(_pki(tmp_path), body)
    assert isinstance(error, ProtocolError) and not isinstance(error, PartyUnavailableError)
    assert "party 1 sent a malformed message for round 1" in str(error)


def test_a_send_cancelled_mid_write_is_delivered_and_the_link_keeps_serving(
    tmp_path: Path,
) -> None:
    """A cancelled analysis must not break the peer link every session shares: the write in
    progress completes (a grpc.aio write cancelled mid-way fails every later write)."""
    payload = np.random.default_rng(0).integers(0, 256, 32 << 20, dtype=np.uint8)

    async def body(networks: list[GrpcNetwork]) -> list[Any]:
        sending = asyncio.ensure_future(networks[1].channel("cancelled").send(0, 1, [payload]))
        for _ in range(3):  # into the write of 32 MiB, which takes many turns of the loop
            await asyncio.sleep(0)
        assert not sending.done()
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        received = await networks[0].channel("cancelled").receive(1, 1)
        sessions = [Session(i, 3, network.channel("next")) for i, network in enumerate(networks)]
        return [received, await asyncio.gather(*(_program(s) for s in sessions))]

    received, results = _run(_pki(tmp_path), body)
    assert np.array_equal(received[0], payload)
    assert results == [EXPECTED] * 3


def test_a_message_over_the_limit_is_refused_before_it_is_sent(tmp_path: Path) -> None:
    """Refused by its sender, it never breaks the link that every session shares."""
    oversized = np.zeros(2 << 20, dtype=np.uint8)

    async def body(networks: list[GrpcNetwork]) -> tuple[MpcStatsError, list[Any]]:
        error = await _error(networks[1].channel("large").send(0, 7, [oversized]))
        sessions = [Session(i, 3, network.channel("next")) for i, network in enumerate(networks)]
        return error, await asyncio.gather(*(_program(s) for s in sessions))

    small = Limits(max_message=1 << 20)
    error, results = _run(_pki(tmp_path), body, limits=dict.fromkeys(range(3), small))
    assert type(error) is ProtocolError
    assert "round 7's message to hosp_a would be 2 MiB, over the 1 MiB one message may carry" in (
        str(error)
    )
    assert results == [EXPECTED] * 3


def test_a_peer_with_a_lower_limit_breaks_the_link_naming_the_setting(tmp_path: Path) -> None:
    """Parties that disagree on max_message_mib: the receiver's grpc ends the stream, and the
    sender learns why; once linked again, messages within both limits pass."""
    large = np.zeros(2 << 20, dtype=np.uint8)

    async def body(networks: list[GrpcNetwork]) -> tuple[MpcStatsError, list[Any]]:
        channel = networks[1].channel("large")
        await channel.send(0, 1, [large])  # within hosp_b's own limit
        error = await _error(channel.receive(0, 2))
        await asyncio.gather(*(_connect(network, networks) for network in networks))
        sessions = [Session(i, 3, network.channel("next")) for i, network in enumerate(networks)]
        return error, await asyncio.gather(*(_program(s) for s in sessions))

    error, results = _run(_pki(tmp_path), body, limits={0: Limits(max_message=1 << 20)})
    assert isinstance(error, PartyUnavailableError) and error.party == 0, repr(error)
    assert "Received message larger than max" in str(error)
    assert "every party must set the same max_message_mib" in str(error)
    assert results == [EXPECTED] * 3


def test_a_network_keeps_the_reasons_of_recently_stopped_sessions_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grpc_channel, "_STOPPED_KEPT", 8)

    async def body(networks: list[GrpcNetwork]) -> tuple[int, GrpcChannel]:
        for i in range(10):
            await networks[0].channel(f"session-{i}").close("the analyst withdrew")
        with pytest.raises(ChannelClosedError, match="the analyst withdrew"):
            networks[0].channel("session-9")
        return len(networks[0]._stopped), networks[0].channel("session-0")

    kept, reopened = _run(_pki(tmp_path), body)
    assert kept == 8 and reopened.session_id == "session-0"


def test_sending_to_a_vanished_peer_names_it(tmp_path: Path) -> None:
    """A peer whose streams end without a Goodbye (a crash) is named unavailable by a send,
    whether the send finds the link gone or its write fails on the dead stream."""

    async def body(networks: list[GrpcNetwork]) -> MpcStatsError:
        for dial in list(networks[2]._dialling):  # party 2 dials 0 and 1: its calls vanish
            dial.cancel()
        channel = networks[0].channel("study")
        for round_id in range(1, 100_000):  # no pause: writes race the reader's notice
            try:
                await channel.send(2, round_id, [np.arange(4, dtype=np.uint8)])
            except MpcStatsError as error:
                return error
        raise AssertionError("sends to a vanished peer kept succeeding")

    error = _run(_pki(tmp_path), body)
    assert isinstance(error, PartyUnavailableError) and error.party == 2, repr(error)
    assert "hosp_c" in str(error)


def test_the_simulator_runs_studies_over_grpc_with_mutual_tls() -> None:
    """The same parties, over real gRPC streams under a throwaway PKI, in one process."""
    rng = np.random.default_rng(3)
    frames = {f"h{i}": pd.DataFrame({"x": rng.integers(0, 100, 50)}) for i in range(3)}
    pooled = pd.concat(frames.values()).x
    study = mpcstats.LocalSimulator(frames, transport="grpc")
    result = study.describe("x")
    assert result.n == 150 and result.mean == pytest.approx(pooled.mean(), rel=1e-12)
    assert study.last_run is not None and study.last_run.bytes_sent > 0
    with pytest.raises(mpcstats.ConfigurationError, match="'memory' or 'grpc'"):
        mpcstats.LocalSimulator(frames, transport="carrier pigeon")
