"""MPyC 0.11 on the same operations, for ratios measured in the same benchmark run.

``mpyc_seconds(op, size)`` starts this file as an MPyC program with 3 local parties (``-M3``:
party 0 spawns parties 1 and 2 as separate processes, on loopback ports from ``-B``) and returns
the seconds party 0 measured between two barriers around the operation, on inputs shared before
the first barrier. The operations use MPyC's vectorised secure arrays:

- ``mul``, ``inner``, ``open``: a secure prime field of 2^127 - 1 (as mpcstats' default);
- ``lt``: 32-bit secure integers;
- ``trunc``: secure fixed point (64 bits, 32 fractional), whose product includes truncation;
- ``reciprocal``: MPyC's fixed-point reciprocal ``mpc._rec``, which ``mpc.np_divide`` uses
  (``mpc.np_reciprocal`` is the field inverse, not 1/x).

Run by hand: ``python benchmarks/mpyc_reference.py lt 1000`` prints the seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OPERATIONS = ("mul", "inner", "open", "lt", "trunc", "reciprocal")
_OP, _SIZE = "MPCSTATS_MPYC_OP", "MPCSTATS_MPYC_SIZE"


def mpyc_seconds(op: str, size: int, parties: int = 3, timeout: float = 600.0) -> float:
    """Wall-clock seconds MPyC needs for ``op`` on vectors of length ``size``."""
    if op not in OPERATIONS:
        raise ValueError(f"no MPyC reference for {op!r}; one of {OPERATIONS}")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        f"-M{parties}",
        "-B",
        str(_free_port_block(parties)),
        "--no-log",
    ]
    # the operation travels in the environment: party 0 re-launches this file for the others
    environment = {**os.environ, _OP: op, _SIZE: str(size)}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        start_new_session=True,  # one process group: party 0 and the parties it spawns
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise RuntimeError(f"MPyC {op} at {size} did not finish in {timeout:g} s") from None
    finally:
        _reap(process.pid)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"MPyC {op} at {size} failed: {err.strip()[-800:]}")
    return float(json.loads(lines[-1])["seconds"])


def _free_port_block(count: int) -> int:
    """A base port whose next ``count`` ports are free on loopback now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count < 65535 and all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no block of free loopback ports for MPyC")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _reap(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def _child(op: str, size: int) -> None:
    """One MPyC party: share inputs, then time ``op`` between barriers (party 0 prints)."""
    import numpy as np
    from mpyc.runtime import mpc

    rng = np.random.default_rng(size)

    async def main() -> None:
        await mpc.start()
        x, y = await _inputs(mpc, op, rng, size)
        await mpc.barrier()
        start = time.perf_counter()
        result = _operation(mpc, op, x, y)
        if op == "open":
            await result
        else:
            await mpc.barrier()
            await mpc.output(result[:1] if op != "inner" else result)
        seconds = time.perf_counter() - start
        if mpc.pid == 0:
            print(json.dumps({"op": op, "size": size, "seconds": seconds}), flush=True)
        await mpc.shutdown()

    mpc.run(main())


async def _inputs(mpc: Any, op: str, rng: Any, size: int) -> tuple[Any, Any]:
    import numpy as np

    if op == "lt":
        kind = mpc.SecInt(32)
        values = [rng.integers(-(2**31) + 1, 2**31, size) for _ in range(2)]
    elif op in {"trunc", "reciprocal"}:
        kind = mpc.SecFxp(64, 32)
        values = [rng.uniform(0.5, 100, size) for _ in range(2)]
    else:
        kind = mpc.SecFld(2**127 - 1)
        values = [rng.integers(0, 2**31, size) for _ in range(2)]
    shared = [mpc.input(kind.array(np.array(v)), senders=i) for i, v in enumerate(values)]
    return shared[0], shared[1]


def _operation(mpc: Any, op: str, x: Any, y: Any) -> Any:
    if op == "mul" or op == "trunc":
        return x * y
    if op == "inner":
        return x @ y
    if op == "lt":
        return x < y
    if op == "reciprocal":
        return mpc._rec(
            x
        )  # what mpc.np_divide uses for fixed point (np_reciprocal is 1/x in GF(p))
    return mpc.output(x)  # open


if __name__ == "__main__":
    if _OP in os.environ:
        _child(os.environ[_OP], int(os.environ[_SIZE]))
    else:
        print(f"{mpyc_seconds(sys.argv[1], int(sys.argv[2])):.6f}")
