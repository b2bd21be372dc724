"""Protocols across three processes over gRPC with mutual TLS on loopback, timed by party 0.

``grpc_run(op, size, repeats)`` writes a throwaway PKI, starts this file once per party (each
its own process with its own :class:`~mpcstats.transport.grpc_channel.GrpcNetwork`), shares two
random vectors, synchronises with one opening, then times ``repeats`` calls of the operation and
reports party 0's seconds per call, rounds per call and bytes sent per call. A correctness check
outside the timed part opens one result and compares it with numpy.

- ``round``: opening one element, i.e. one communication round: the per-round latency;
- ``open``, ``mul``, ``lt``: the protocols of ``bench_protocols.py`` on vectors of ``size``.

Run by hand: ``python benchmarks/grpc_reference.py lt 10000`` prints the result as JSON.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mpcstats import protocols as P
from mpcstats.protocols.session import Session
from mpcstats.testing.loopback import free_ports
from mpcstats.transport.grpc_channel import GrpcNetwork
from mpcstats.transport.pki import Identity, create_ca, issue

NAMES = ["p0", "p1", "p2"]
OPERATIONS = ("round", "open", "mul", "lt")
_PARTY = "--party"


def grpc_run(op: str, size: int, repeats: int = 3, timeout: float = 300.0) -> dict[str, Any]:
    """Party 0's measurement of ``op`` on ``size`` elements; see the module docstring."""
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation {op!r}; one of {OPERATIONS}")
    with tempfile.TemporaryDirectory(prefix="grpc_reference_") as folder:
        ca = create_ca(Path(folder))
        for name in NAMES:
            issue(ca, name)
        ports = ",".join(map(str, free_ports(len(NAMES))))
        script = str(Path(__file__).resolve())
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    script,
                    _PARTY,
                    str(i),
                    folder,
                    ports,
                    op,
                    str(size),
                    str(repeats),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for i in range(len(NAMES))
        ]
        outputs = [p.communicate(timeout=timeout) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"a party failed:\n{err.decode(errors='replace')[-2000:]}")
    return dict(json.loads(outputs[0][0]))


async def _party(
    index: int, folder: Path, ports: list[int], op: str, size: int, repeats: int
) -> None:
    name = NAMES[index]
    identity = Identity(name, folder / "ca.pem", folder / f"{name}.pem", folder / f"{name}.key")
    network = GrpcNetwork(index, NAMES, identity, listen=f"127.0.0.1:{ports[index]}", timeout=120)
    await network.start()
    await network.connect([f"127.0.0.1:{port}" for port in ports])
    session = Session(index, len(NAMES), network.channel("benchmark"))
    await session.setup()
    rng = np.random.default_rng(size)
    length = 1 if op == "round" else size
    x_plain, y_plain = (rng.integers(-(2**30), 2**30, length) for _ in range(2))
    x = await P.input(session, x_plain if index == 0 else None, owner=0, bits=32)
    y = await P.input(session, y_plain if index == 1 else None, owner=1, bits=32)
    operation = _OPERATIONS[op]
    await P.open(session, x[:1])  # every party starts the timed part together
    before = session.stats.snapshot()
    started = time.perf_counter()
    for _ in range(repeats):
        result = await operation(session, x, y)
    seconds = (time.perf_counter() - started) / repeats
    after = session.stats.snapshot()
    opened = result if isinstance(result, np.ndarray) else await P.open(session, result)
    expected = _EXPECTED[op](x_plain, y_plain)
    if index == 0:
        print(
            json.dumps(
                {
                    "seconds": seconds,
                    "rounds": (after[0] - before[0]) / repeats,
                    "bytes_sent": (after[1] - before[1]) / repeats,
                    "correct": bool(np.array_equal(np.asarray(opened, dtype=np.int64), expected)),
                }
            )
        )
    await network.close()


async def _open(session: Session, x: P.Shared, y: P.Shared) -> np.ndarray:
    return await P.open(session, x)


async def _mul(session: Session, x: P.Shared, y: P.Shared) -> P.Shared:
    return await P.mul(session, x, y)


async def _lt(session: Session, x: P.Shared, y: P.Shared) -> P.Shared:
    return await P.lt(session, x, y)


_OPERATIONS = {"round": _open, "open": _open, "mul": _mul, "lt": _lt}
_EXPECTED = {
    "round": lambda x, y: x,
    "open": lambda x, y: x,
    "mul": lambda x, y: x * y,
    "lt": lambda x, y: (x < y).astype(np.int64),
}


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == _PARTY:
        index, folder, ports, op, size, repeats = sys.argv[2:]
        asyncio.run(
            _party(
                int(index),
                Path(folder),
                [int(p) for p in ports.split(",")],
                op,
                int(size),
                int(repeats),
            )
        )
    else:
        print(json.dumps(grpc_run(sys.argv[1], int(sys.argv[2]))))
