"""The protocols over real gRPC with mutual TLS: in one event loop, and across processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mpcstats import PartyUnavailableError
from mpcstats import protocols as P
from mpcstats.protocols.session import Session
from mpcstats.transport.grpc_channel import GrpcNetwork
from mpcstats.transport.pki import Identity, create_ca, issue
from mpcstats.v1 import peer_pb2

NAMES = ["hosp_a", "hosp_b", "hosp_c"]
X = np.array([5, -3, 0, 2**31 - 1, 12], dtype=np.int64)
Y = np.array([4, -3, 1, 2**31 - 1, 13], dtype=np.int64)


def _pki(folder: Path) -> list[Identity]:
    ca = create_ca(folder)
    return [issue(ca, name) for name in NAMES]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


async def _program(session: Session) -> list[list[int]]:
    await session.setup()
    x = await P.input(session, X if session.party == 0 else None, owner=0, bits=32)
    y = await P.input(session, Y if session.party == 1 else None, owner=1, bits=32)
    opened = [
        await P.open(session, await P.mul(session, x, y)),
        await P.open(session, await P.lt(session, x, y)),
        await P.open(session, await P.eq(session, x, y)),
    ]
    return [[int(v) for v in values] for values in opened]


EXPECTED = [
    [int(a) * int(b) for a, b in zip(X, Y, strict=True)],
    [int(a < b) for a, b in zip(X, Y, strict=True)],
    [int(a == b) for a, b in zip(X, Y, strict=True)],
]


async def _networks(identities: list[Identity], timeout: float = 10.0) -> list[GrpcNetwork]:
    ports = _free_ports(3)
    addresses = [f"127.0.0.1:{port}" for port in ports]
    networks = [GrpcNetwork(i, NAMES, addresses, identities[i], timeout=timeout) for i in range(3)]
    for network in networks:
        await network.start()
    return networks


def test_protocols_run_over_mutual_tls_in_one_event_loop(tmp_path: Path) -> None:
    async def main() -> list[Any]:
        networks = await _networks(_pki(tmp_path))
        try:
            sessions = [Session(i, 3, net.channel("study-1")) for i, net in enumerate(networks)]
            first = await asyncio.gather(*(_program(s) for s in sessions))
            # a second, concurrent pair of sessions on the same networks stays isolated
            again = [Session(i, 3, net.channel("study-2")) for i, net in enumerate(networks)]
            other = [Session(i, 3, net.channel("study-3")) for i, net in enumerate(networks)]
            both = await asyncio.gather(*(_program(s) for s in again + other))
            return [*first, *both]
        finally:
            await asyncio.gather(*(net.close() for net in networks))

    assert all(result == EXPECTED for result in asyncio.run(main()))


def _party_process(
    index: int, identity: Identity, addresses: list[str], results: Any, crash_after_input: bool
) -> None:
    async def main() -> None:
        network = GrpcNetwork(index, NAMES, addresses, identity, timeout=8.0)
        await network.start()
        try:
            session = Session(index, 3, network.channel("study"))
            if crash_after_input:
                await session.setup()
                await P.input(session, X if index == 0 else None, owner=0, bits=32)
                os._exit(1)  # the hospital's daemon dies mid-session
            started = time.monotonic()
            try:
                results.put((index, await _program(session), None, 0.0))
            except PartyUnavailableError as error:
                results.put((index, None, error.party, time.monotonic() - started))
        finally:
            await network.close()

    asyncio.run(main())


def _run_processes(tmp_path: Path, crash: int | None) -> list[tuple[Any, ...]]:
    identities = _pki(tmp_path)
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(3)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [
        context.Process(
            target=_party_process, args=(i, identities[i], addresses, results, i == crash)
        )
        for i in range(3)
    ]
    for process in processes:
        process.start()
    expected = 3 if crash is None else 2
    collected = [results.get(timeout=60) for _ in range(expected)]
    for process in processes:
        process.join(timeout=30)
    return sorted(collected, key=lambda item: item[0])


def test_three_daemon_processes_compute_together(tmp_path: Path) -> None:
    outputs = _run_processes(tmp_path, crash=None)
    assert [output[1] for output in outputs] == [EXPECTED] * 3


def test_a_killed_party_is_named_by_the_others_within_10_seconds(tmp_path: Path) -> None:
    outputs = _run_processes(tmp_path, crash=2)
    assert [output[0] for output in outputs] == [0, 1]
    assert all(output[2] == 2 and output[3] < 10 for output in outputs)


def test_a_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    async def main() -> tuple[list[PartyUnavailableError], dict[int, str]]:
        honest = _pki(tmp_path / "federation")
        rogue = issue(create_ca(tmp_path / "rogue", "rogue CA"), "hosp_c", tmp_path / "rogue")
        networks = await _networks(honest, timeout=2.0)
        addresses = [f"127.0.0.1:{n.port}" for n in networks]
        intruder = GrpcNetwork(2, NAMES, addresses, rogue, listen="127.0.0.1:0", timeout=2.0)
        await intruder.start()
        try:
            for peer in (0, 1):
                frame = peer_pb2.PeerFrame(session_id="study", round=1, sender=2)
                await intruder.send(peer, frame)
            errors = []
            for net in networks[:2]:
                with pytest.raises(PartyUnavailableError) as caught:
                    await net.receive("study", 2, 1)
                errors.append(caught.value)
            return errors, dict(intruder._gone)
        finally:
            await asyncio.gather(*(net.close() for net in [*networks, intruder]))

    errors, refused = asyncio.run(main())
    assert [e.party for e in errors] == [2, 2]  # nothing the intruder sent was delivered
    assert set(refused) == {0, 1} and all("TLS was refused" in r for r in refused.values())


def test_a_peer_presenting_another_partys_name_is_refused(tmp_path: Path) -> None:
    async def main() -> dict[int, str]:
        identities = _pki(tmp_path)
        networks = await _networks(identities, timeout=3.0)
        # party 2's process holds hosp_b's certificate and claims to be party 2
        impostor = GrpcNetwork(
            2,
            NAMES,
            [f"127.0.0.1:{n.port}" for n in networks],
            identities[1],
            listen="127.0.0.1:0",
            timeout=3.0,
        )
        await impostor.start()
        try:
            await impostor.send(0, peer_pb2.PeerFrame(session_id="study", round=1, sender=2))
            for _ in range(30):
                await asyncio.sleep(0.1)
                if impostor._gone:
                    break
            return dict(impostor._gone)
        finally:
            await asyncio.gather(*(net.close() for net in [*networks, impostor]))

    gone = asyncio.run(main())
    assert any("PERMISSION_DENIED" in reason for reason in gone.values()), gone
