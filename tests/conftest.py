"""Shared helpers: secure programs on n simulated parties; studies over the simulator and over
real party daemons (the same tests run through both)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mpcstats
from mpcstats.client import Federation
from mpcstats.protocols.session import Session
from mpcstats.simulator import LocalSimulator
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Column, Schema
from mpcstats.stats.study import Study
from mpcstats.testing.loopback import LoopbackFederation
from tests import parties
from tests.parties import PartyProcesses

PARTY_COUNTS = [3, 5, 7]

SMOKERS = Schema(
    {
        "age": Column("age", "int", 0, 110),
        "smoker": Column("smoker", "bool"),
        "sex": Column("sex", "category", codes=("F", "M")),
        "cancer": Column("cancer", "bool"),
    }
)


def smokers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """A hospital's cohort of :data:`SMOKERS`: cancer from a logistic model in age, smoking
    and sex (shared by the model tests and the daemon tests)."""
    age = rng.integers(30, 90, n)
    smoker = rng.integers(0, 2, n)
    sex = rng.choice(["F", "M"], n)
    eta = -6 + 0.06 * age + 1.2 * smoker + 0.4 * (sex == "M")
    cancer = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"age": age, "smoker": smoker, "sex": sex, "cancer": cancer})


def owned(session: Session, owner: int, values: Any) -> Any:
    """The values at their owner, None elsewhere (how inputs are given)."""
    return values if session.party == owner else None


@pytest.fixture(
    params=[*((n, "memory") for n in PARTY_COUNTS), (3, "processes")],
    ids=lambda p: f"n{p[0]}" + ("" if p[1] == "memory" else f"-{p[1]}"),
)
def n(request: pytest.FixtureRequest) -> Iterator[int]:
    """The number of parties of a protocol test; the suite also runs with the 3 parties in
    processes of their own, linked by gRPC with mutual TLS, through :func:`run`."""
    count, transport = request.param
    with _parties_of(request, transport):
        yield count


def party_counts(*counts: int) -> pytest.MarkDecorator:
    """A test's own parties counts for the ``n`` fixture, simulated, and 3 also in the party
    processes."""
    params = [pytest.param((count, "memory"), id=f"n{count}") for count in counts]
    if 3 in counts:
        params.append(pytest.param((3, "processes"), id="n3-processes"))
    return pytest.mark.parametrize("n", params, indirect=True)


@pytest.fixture(params=["memory", "processes"], ids=["n3", "n3-processes"])
def three(request: pytest.FixtureRequest) -> Iterator[int]:
    """Three parties, simulated and in the party processes: for tests of one party count."""
    with _parties_of(request, request.param):
        yield 3


def _parties_of(request: pytest.FixtureRequest, transport: str) -> Any:
    """The context in which :func:`tests.parties.run` uses ``transport``."""
    processes = request.getfixturevalue("party_processes") if transport == "processes" else None
    return parties.using(processes)


@pytest.fixture(scope="session")
def party_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PartyProcesses]:
    processes = PartyProcesses(tmp_path_factory.mktemp("party-processes"))
    yield processes
    processes.close()


# the same statistics suite over the simulator and over real daemons ---------------------------
TRANSPORTS = ["simulator", "grpc"]
_LIVE_FEDERATIONS = 3  # daemon sets kept running between tests (tests reuse their hospitals)


class _Federations:
    """Loopback federations of daemon processes, one per distinct (tables, schema, policy)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.live: OrderedDict[str, tuple[LoopbackFederation, Federation]] = OrderedDict()
        self.started = 0  # federations started so far

    def study(
        self, frames: Mapping[str, pd.DataFrame], schema: Schema | None, policy: Policy | None
    ) -> Federation:
        schema = schema or Schema.infer(list(frames.values()))
        policy = policy or Policy()
        key = _fingerprint(frames, schema, policy)
        if key in self.live:
            self.live.move_to_end(key)
            return self.live[key][1]
        while len(self.live) >= _LIVE_FEDERATIONS:
            self._stop(self.live.popitem(last=False)[1])
        helpers = max(3 - len(frames), 0)
        # a federation started again is new daemons with a new PKI: a folder of its own, as
        # its predecessor's audit log (signed with other keys) must not be continued
        self.started += 1
        folder = self.folder / f"{key[:12]}-{self.started}"
        daemons = LoopbackFederation(
            folder,
            frames,
            schema,
            helpers=helpers,
            policies=dict.fromkeys([*frames, *(["helper"] if helpers else [])], policy),
        )
        daemons.start()
        try:
            study = mpcstats.connect(**daemons.connect_kwargs(), progress=False)
        except BaseException:
            daemons.stop()
            raise
        self.live[key] = (daemons, study)
        return study

    @staticmethod
    def _stop(pair: tuple[LoopbackFederation, Federation]) -> None:
        daemons, study = pair
        study.close()
        codes = daemons.stop()
        assert set(codes.values()) == {0}, f"daemons exited with {codes}"

    def close(self) -> None:
        while self.live:
            self._stop(self.live.popitem()[1])


def _fingerprint(frames: Mapping[str, pd.DataFrame], schema: Schema, policy: Policy) -> str:
    digest = hashlib.sha256(schema.to_json().encode() + repr(policy).encode())
    for name, frame in frames.items():
        digest.update(name.encode())
        digest.update(frame.to_csv(index=False).encode())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def _federations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Federations]:
    pool = _Federations(tmp_path_factory.mktemp("federations"))
    yield pool
    pool.close()


StudyFactory = Callable[..., Study]


@pytest.fixture(params=TRANSPORTS)
def make_study(request: pytest.FixtureRequest, _federations: _Federations) -> StudyFactory:
    """``make_study(frames, schema=..., policy=...)``: a simulator, or a client connected to
    daemon processes over mutual TLS holding the same tables."""
    if request.param == "simulator":
        return LocalSimulator

    def connected(
        frames: Mapping[str, pd.DataFrame],
        schema: Schema | None = None,
        policy: Policy | None = None,
    ) -> Study:
        return _federations.study(frames, schema, policy)

    return connected
