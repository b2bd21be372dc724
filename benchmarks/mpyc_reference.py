"""MPyC 0.11 on the same operations as mpcstats, timed on this machine for in-run ratios.

``mpyc_seconds(op, size)`` starts this file once per party as a separate MPyC process
(``-M3 -I i -B base``: parties 1 and 2 listen on loopback ports ``base + 1`` and ``base + 2``;
party 0 only connects) and returns the slowest party's time for the operation alone. Inputs are
secret-shared first; then every party awaits its input shares and one all-to-all message
(``mpc.transfer``), so that all start together, and times the operation until its own result
shares are ready (``mpc.gather``; for ``open``, until the opened values are in). Waiting uses
awaits, not ``mpc.barrier()``: that polls with ``asyncio.sleep(0)``, and three polling
processes on two cores slow each other's message handling 10-20x. A correctness check, outside
the timed part, opens the result and compares it with numpy on the same inputs.

The operations, with MPyC's vectorised secure arrays wherever MPyC 0.11 has them:

- ``mul``: ``x * y`` on ``SecFld(2**127 - 1)`` arrays (``mpc.np_multiply``: local product and
  one resharing);
- ``inner``: ``x @ y`` on the same arrays (``mpc.np_matmul``: one resharing);
- ``open``: ``mpc.output(x)`` of such an array;
- ``lt``: ``x < y`` on ``SecInt(32)`` arrays (``mpc.np_less``, i.e. ``mpc.np_sgn(x - y,
  LT=True)``); inputs in [-2^30, 2^30) so that x - y fits the 32 bits it assumes;
- ``trunc``: ``x * y`` on ``SecFxp(40, 32)`` arrays, i.e. a product, a resharing and
  ``mpc.np_trunc`` by 32 bits (MPyC has no cheaper stand-alone equivalent of a fixed-point
  product's truncation);
- ``reciprocal``: ``1 / x`` on ``SecFxp(40, 32)`` arrays (``mpc.np_divide``, i.e. ``mpc._rec``:
  bit decomposition to normalise, then Newton iterations; ``np.reciprocal(x)`` would be
  ``mpc.np_reciprocal``, the field inverse, which is not 1/x for fixed point);
- ``sqrt``: MPyC's only fixed-point square root, ``mpyc.statistics._fsqrt`` (what
  ``statistics.stdev`` uses: one comparison per output bit), takes scalars only, so this is its
  algorithm transcribed to ``SecFxp(40, 32)`` arrays (:func:`_fsqrt_array`);
- ``sqrt_scalar``: ``_fsqrt`` itself on each element, ``size`` concurrent scalar computations;
- ``solve``: ``size`` independent 11 x 11 SPD systems (the benchmark uses one) solved by
  Gaussian elimination without pivoting on ``SecFxp(64, 40)`` arrays (:func:`_gauss_solve`),
  written here because MPyC 0.11 has no secure linear solver (``np.linalg.solve`` exists only
  for public field arrays).

The fixed-point types hold the same data as the mpcstats benchmarks (values in [0.5, 100]:
8 integer bits including the sign, 32 fractional bits; the SPD system at 64 bits, 40
fractional). MPyC's statistical security parameter is its default, k = 30.

Run by hand: ``python benchmarks/mpyc_reference.py lt 1000`` prints the seconds.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

OPERATIONS = ("mul", "inner", "open", "lt", "trunc", "reciprocal", "sqrt", "sqrt_scalar", "solve")
_FXP_OPS = {"trunc", "reciprocal", "sqrt", "sqrt_scalar"}
SOLVE_DIMENSION = 11
FXP = (40, 32)  # SecFxp(l, f) of trunc, reciprocal and sqrt
FXP_SOLVE = (64, 40)  # SecFxp(l, f) of solve
_PARTY = "_party"  # first argument of a party process
_ATTEMPTS = 3  # launches tried when a loopback port was taken in the meantime


@dataclass(frozen=True)
class MpycRun:
    """One MPyC run: every party's own time for the operation and the result's error.

    ``max_abs_error`` is the largest absolute error against numpy, or for the exact field
    operations (mul, inner, open) the number of wrong elements.
    """

    op: str
    size: int
    party_seconds: tuple[float, ...]
    max_abs_error: float

    @property
    def seconds(self) -> float:
        """The operation is done when the slowest party is done."""
        return max(self.party_seconds)


def mpyc_seconds(op: str, size: int, parties: int = 3, timeout: float = 300.0) -> float:
    """Wall-clock seconds MPyC needs for `op` on vectors of length `size` with `parties` local
    parties (the slowest party's own timer, excluding start-up and input sharing)."""
    return mpyc_run(op, size, parties, timeout).seconds


def mpyc_run(op: str, size: int, parties: int = 3, timeout: float = 300.0) -> MpycRun:
    """Run ``op`` in MPyC with ``parties`` local processes; see :func:`mpyc_seconds`."""
    if op not in OPERATIONS:
        raise ValueError(f"no MPyC reference for {op!r}; one of {OPERATIONS}")
    if size < 1 or parties < 1:
        raise ValueError("size and parties must be positive")
    for attempt in range(_ATTEMPTS):
        try:
            return _launch(op, size, parties, timeout)
        except _PortTakenError:
            if attempt == _ATTEMPTS - 1:
                raise RuntimeError("MPyC parties could not listen on free loopback ports") from None
    raise AssertionError("unreachable")


class _PortTakenError(Exception):
    pass


def _launch(op: str, size: int, parties: int, timeout: float) -> MpycRun:
    base = _free_port_block(parties)
    script = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory(prefix="mpyc_reference_") as folder:
        logs: list[tuple[IO[str], IO[str]]] = []
        processes: list[subprocess.Popen[bytes]] = []
        try:
            for i in range(parties):
                out = open(Path(folder, f"party{i}.out"), "w+")  # noqa: SIM115 - closed below
                err = open(Path(folder, f"party{i}.err"), "w+")  # noqa: SIM115 - closed below
                logs.append((out, err))
                command = [sys.executable, script, _PARTY, op, str(size)]
                command += [f"-M{parties}", "-I", str(i), "-B", str(base), "--no-log"]
                processes.append(
                    subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
                )
            failed = _wait(processes, time.monotonic() + timeout)
            if failed == -1:
                raise RuntimeError(f"MPyC {op} at size {size} did not finish in {timeout:g} s")
            if failed is not None:
                tail = _tail(logs[failed][1])
                if "address already in use" in tail.lower():
                    raise _PortTakenError
                raise RuntimeError(f"MPyC {op} at size {size}, party {failed} failed:\n{tail}")
            reports = [_report(log_out, log_err, i) for i, (log_out, log_err) in enumerate(logs)]
        finally:
            for process in processes:  # kill the parties still running (timeout, failure)
                if process.poll() is None:
                    process.kill()
                process.wait()
            for log_out, log_err in logs:
                log_out.close()
                log_err.close()
    return MpycRun(
        op=op,
        size=size,
        party_seconds=tuple(float(r["seconds"]) for r in reports),
        max_abs_error=max(float(r["max_abs_error"]) for r in reports),
    )


def _wait(processes: list[subprocess.Popen[bytes]], deadline: float) -> int | None:
    """None when all parties exit cleanly; the index of one that failed; -1 on timeout."""
    while time.monotonic() < deadline:
        codes = [process.poll() for process in processes]
        for i, code in enumerate(codes):
            if code is not None and code != 0:
                return i
        if all(code == 0 for code in codes):
            return None
        time.sleep(0.02)
    return -1


def _tail(log: IO[str], chars: int = 2000) -> str:
    log.seek(0)
    return log.read()[-chars:].strip()


def _report(out: IO[str], err: IO[str], party: int) -> dict[str, Any]:
    out.seek(0)
    lines = [line for line in out.read().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"MPyC party {party} printed no result:\n{_tail(err)}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def _free_port_block(count: int) -> int:
    """A base port whose next ``count`` ports are free on loopback now."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count < 65536 and all(_free(base + i) for i in range(1, count)):
            return base
    raise RuntimeError("no block of free loopback ports for MPyC")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# One party (runs in its own process; MPyC reads -M, -I, -B from sys.argv when imported).


def _plain_inputs(op: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The same inputs in every party (each shares only its own)."""
    rng = np.random.default_rng(size)
    if op == "lt":
        return rng.integers(-(2**30), 2**30, size), rng.integers(-(2**30), 2**30, size)
    if op in _FXP_OPS:
        return rng.uniform(0.5, 100, size), rng.uniform(0.5, 100, size)
    if op == "solve":  # system 0 is the one of bench_protocols.test_spd_solve_11
        grams, rhs = [], []
        for i in range(size):
            rng = np.random.default_rng(11 + i)
            design = rng.normal(size=(300, SOLVE_DIMENSION))
            design *= rng.uniform(0.1, 30, size=SOLVE_DIMENSION)
            grams.append(design.T @ design)
            rhs.append(rng.normal(size=SOLVE_DIMENSION))
        return np.stack(grams), np.stack(rhs)
    return rng.integers(0, 2**31, size), rng.integers(0, 2**31, size)


def _plain_result(op: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    expected: np.ndarray
    if op == "mul":
        expected = np.asarray([int(a) * int(b) for a, b in zip(x, y, strict=True)], dtype=object)
    elif op == "inner":
        expected = np.asarray(
            [sum(int(a) * int(b) for a, b in zip(x, y, strict=True))], dtype=object
        )
    elif op == "lt":
        expected = (x < y).astype(np.int64)
    elif op == "trunc":
        expected = x * y
    elif op == "reciprocal":
        expected = 1 / x
    elif op in {"sqrt", "sqrt_scalar"}:
        expected = np.sqrt(x)
    elif op == "solve":
        expected = np.linalg.solve(x, y[..., None]).reshape(-1)
    else:  # open
        expected = x
    return expected


def _party(op: str, size: int) -> None:
    from mpyc.runtime import mpc

    x_plain, y_plain = _plain_inputs(op, size)
    if op in _FXP_OPS:
        stype: Any = mpc.SecFxp(*FXP)
    elif op == "solve":
        stype = mpc.SecFxp(*FXP_SOLVE)
    elif op == "lt":
        stype = mpc.SecInt(32)
    else:
        stype = mpc.SecFld(2**127 - 1)
    other = min(1, len(mpc.parties) - 1)

    async def main() -> None:
        await mpc.start()
        x = mpc.input(stype.array(x_plain), senders=0)
        y = mpc.input(stype.array(y_plain), senders=other)
        if op == "sqrt_scalar":
            x = mpc.np_tolist(x)
        # await values, never mpc.barrier() (it busy-polls; see the module docstring)
        await mpc.gather(x, y)
        await mpc.transfer(mpc.pid)  # all parties start the clock together
        start = time.perf_counter()
        result = _operation(mpc, op, x, y)
        if op == "open":
            result = await result
        else:
            await mpc.gather(result)  # this party's result shares are ready
        seconds = time.perf_counter() - start
        error = await _error(mpc, op, result, x_plain, y_plain)
        report = {"party": mpc.pid, "op": op, "size": size, "seconds": seconds}
        print(json.dumps({**report, "max_abs_error": error}), flush=True)
        await mpc.shutdown()

    mpc.run(main())


def _operation(mpc: Any, op: str, x: Any, y: Any) -> Any:
    if op in {"mul", "trunc"}:
        return x * y
    if op == "inner":
        return x @ y
    if op == "lt":
        return x < y
    if op == "reciprocal":
        return 1 / x  # np.reciprocal(x) would be the field inverse (mpc.np_reciprocal)
    if op == "sqrt":
        return _fsqrt_array(mpc, x)
    if op == "sqrt_scalar":
        from mpyc.statistics import _fsqrt

        return [_fsqrt(a) for a in x]
    if op == "solve":
        return [_gauss_solve(mpc, x[i], y[i]) for i in range(x.shape[0])]
    return mpc.output(x)  # open


def _fsqrt_array(mpc: Any, a: Any) -> Any:
    """``mpyc.statistics._fsqrt`` for a secure fixed-point array: its algorithm, elementwise.

    MPyC's function reads ``type(a).bit_length``, which array types lack, so it only takes
    scalars. Same steps: from the top bit down, keep h = r + 2^-i when h * h <= a.
    """
    sectype = type(a).sectype
    f = sectype.frac_length
    e = (sectype.bit_length + f - 1) // 2
    r = a * 0
    j = 2.0 ** (e - f)
    for _ in range(e + 1):
        h = r + j
        r = mpc.np_where(h * h <= a, h, r)
        j /= 2
    return r


def _gauss_solve(mpc: Any, a: Any, b: Any) -> Any:
    """x with a x = b for a secure d x d array a without pivoting (fine for SPD a).

    Forward elimination on the augmented matrix (a | b), one vectorised rank-one update per
    column, then back substitution with one secure inner product per row. Each pivot costs one
    secure fixed-point reciprocal.
    """
    d = a.shape[0]
    g = mpc.np_hstack((a, mpc.np_reshape(b, (d, 1))))
    inverses = []
    for k in range(d):
        inverse = 1 / g[k, k]
        inverses.append(inverse)
        if k + 1 < d:
            factors = g[k + 1 :, k] * inverse
            update = mpc.np_outer(factors, g[k, k + 1 :])
            g = mpc.np_update(
                g, (slice(k + 1, d), slice(k + 1, d + 1)), g[k + 1 :, k + 1 :] - update
            )
    solution: list[Any] = [None] * d
    for k in range(d - 1, -1, -1):
        rest = g[k, d]
        if k + 1 < d:
            rest = rest - g[k, k + 1 : d] @ mpc.np_fromlist(solution[k + 1 :])
        solution[k] = rest * inverses[k]
    return mpc.np_fromlist(solution)


async def _error(mpc: Any, op: str, result: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Error of the opened result against numpy (not timed); see :class:`MpycRun`."""
    expected = _plain_result(op, x, y)
    if op == "open":
        opened: Any = result
    elif op == "sqrt_scalar":
        opened = await mpc.output(result)
    elif op == "solve":
        opened = [await mpc.output(r) for r in result]
        opened = np.concatenate(opened)
    else:
        opened = await mpc.output(result)
    if op in {"mul", "inner", "open"}:
        values = np.asarray(opened.value if hasattr(opened, "value") else opened, dtype=object)
        values = values.reshape(-1)
        modulus = 2**127 - 1
        wrong = sum(
            int(v) % modulus != int(e) % modulus for v, e in zip(values, expected, strict=True)
        )
        return float(wrong)  # elements that differ
    got = np.asarray(opened, dtype=float).reshape(-1)
    error = float(np.max(np.abs(got - expected.astype(float))))
    return error if math.isfinite(error) else float("inf")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == _PARTY:
        _party(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3:
        print(f"{mpyc_seconds(sys.argv[1], int(float(sys.argv[2]))):.6f}")
    else:
        print(f"usage: {sys.argv[0]} {{{','.join(OPERATIONS)}}} SIZE", file=sys.stderr)
        sys.exit(2)
