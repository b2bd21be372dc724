"""How protocol tests run their parties: simulated in this process, or as three real
processes linked by gRPC with mutual TLS.

:func:`run` is what tests call; the ``n`` and ``three`` fixtures pick the party processes
with :func:`using`.

Each process holds one party's :class:`~mpcstats.transport.grpc_channel.GrpcNetwork`, as a
party daemon does, for the whole test run; every test's program is one session on them. The
program, a closure of the test, travels to each process by cloudpickle over a pipe, and what each
party's program returned comes back the same way: nothing else crosses between the processes
but the parties' own gRPC streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import multiprocessing
import pickle
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import cloudpickle

from mpcstats._errors import ChannelClosedError, ProtocolError
from mpcstats.core.field import DEFAULT_MODULUS_BITS, PrimeField
from mpcstats.protocols.session import Session
from mpcstats.simulator import LocalSimulator, RunResult
from mpcstats.transport.grpc_channel import GrpcNetwork
from mpcstats.transport.pki import Identity, create_ca, issue

NAMES = ["hosp_a", "hosp_b", "hosp_c"]
_START = 60.0  # seconds for a process to start, listen and link to its peers
_SESSION_OPTIONS = {"threshold", "modulus_bits", "kappa", "record_openings"}
_PROCESSES: contextvars.ContextVar[PartyProcesses | None] = contextvars.ContextVar(
    "party_processes", default=None
)


def run(
    n: int,
    program: Callable[[Session], Awaitable[Any]],
    *,
    pooled_setup: bool = False,
    **options: Any,
) -> RunResult:
    """``program`` on n parties: in the party processes when the test's ``n`` chose them and n
    is 3, else simulated over memory channels. With ``pooled_setup`` the PRSS keys travel with
    the program's first pooling round, as in a daemon."""
    processes = _PROCESSES.get()
    if processes is not None and n == processes.n:
        return processes.run(program, pooled_setup=pooled_setup, **options)
    simulator = LocalSimulator(n=n, **options)
    return asyncio.run(simulator.run_async(program, pooled_setup=pooled_setup))


@contextlib.contextmanager
def using(processes: PartyProcesses | None) -> Iterator[None]:
    """Within the block, :func:`run` uses ``processes`` (None: the simulator)."""
    token = _PROCESSES.set(processes)
    try:
        yield
    finally:
        _PROCESSES.reset(token)


class PartyProcesses:
    """Three party processes; :meth:`run` is :meth:`LocalSimulator.run` across them.

    Every message a process sends is tagged: "port", "linked", or the session id of the job
    it answers, so a late answer to a job that timed out is never taken for the next one's.
    """

    def __init__(self, folder: Path, timeout: float = 60.0) -> None:
        ca = create_ca(folder)
        context = multiprocessing.get_context("spawn")
        self.timeout, self.n = timeout, len(NAMES)
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for index, name in enumerate(NAMES):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_serve, args=(index, issue(ca, name), theirs, timeout), daemon=True
            )
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)
        try:
            ports = [reply[1] for reply in self._replies("port", _START)]
            for pipe in self.pipes:
                pipe.send([f"127.0.0.1:{port}" for port in ports])
            self._replies("linked", _START)
        except BaseException:
            self.close()
            raise

    def run(
        self,
        program: Callable[[Session], Awaitable[Any]],
        pooled_setup: bool = False,
        **options: Any,
    ) -> RunResult:
        unknown = set(options) - _SESSION_OPTIONS
        if unknown:
            raise TypeError(f"party processes take no option {sorted(unknown)}")
        session_id = uuid.uuid4().hex
        job = (session_id, cloudpickle.dumps(program), pooled_setup, options)
        for pipe in self.pipes:
            pipe.send(job)
        replies = [reply[1:] for reply in self._replies(session_id, self.timeout + 10)]
        failures = [reply[1] for reply in replies if reply[0] == "error"]
        if failures:
            primary = [f for f in failures if not isinstance(f, ChannelClosedError)]
            raise (primary or failures)[0]
        t, degree = replies[0][3:]
        return RunResult([r[1] for r in replies], [r[2] for r in replies], t, degree)

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()

    def _replies(self, tag: str, seconds: float) -> list[tuple[Any, ...]]:
        """Each process's message tagged ``tag``; earlier messages with other tags are stale."""
        deadline = time.monotonic() + seconds
        replies = []
        for name, pipe in zip(NAMES, self.pipes, strict=True):
            while True:
                if not pipe.poll(max(deadline - time.monotonic(), 0)):
                    raise TimeoutError(f"the process of {name} did not answer within {seconds:g} s")
                reply = pipe.recv()
                if reply[0] == tag:
                    replies.append(reply)
                    break
        return replies


# in each party's process ----------------------------------------------------------------------
def _serve(index: int, identity: Identity, pipe: Connection, timeout: float) -> None:
    asyncio.run(_party(index, identity, pipe, timeout))


async def _party(index: int, identity: Identity, pipe: Connection, timeout: float) -> None:
    network = GrpcNetwork(index, NAMES, identity, listen="127.0.0.1:0", timeout=timeout)
    try:
        pipe.send(("port", await network.start()))
        await network.connect(await asyncio.to_thread(pipe.recv))
        pipe.send(("linked",))
        while (job := await asyncio.to_thread(pipe.recv)) is not None:
            session_id = job[0]
            reply = await _session(network, *job)
            try:
                pipe.send((session_id, *reply))
            except (pickle.PicklingError, TypeError, AttributeError) as error:
                failure = ProtocolError(f"the program's output does not pickle: {error}")
                pipe.send((session_id, "error", failure))
    finally:
        await network.close()


async def _session(
    network: GrpcNetwork,
    session_id: str,
    program: bytes,
    pooled_setup: bool,
    options: dict[str, Any],
) -> tuple[Any, ...]:
    """One party's run of the pickled ``program``: ("ok", output, stats, t, output degree) or
    ("error", the exception, with this process's traceback as a note); a failure closes the
    session, so that the other parties stop too."""
    bits = options.get("modulus_bits", DEFAULT_MODULUS_BITS)
    channel = network.channel(session_id, PrimeField.with_bits(bits))
    session = Session(network.party, network.n, channel, **options)
    try:
        if pooled_setup:
            session.prepare_setup()
        else:
            await session.setup()
        output = await cloudpickle.loads(program)(session)
    except Exception as error:
        error.add_note(f"in the process of party {network.party}:\n{traceback.format_exc()}")
        with contextlib.suppress(Exception):
            await channel.close(f"party {network.party} failed: {type(error).__name__}")
        return ("error", _picklable(error))
    return ("ok", output, session.stats, session.t, session.output_degree)


def _picklable(error: Exception) -> Exception:
    """The error itself if it survives pickling, else a ProtocolError that names it."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return ProtocolError(f"{type(error).__name__}: {error}")
    return error
