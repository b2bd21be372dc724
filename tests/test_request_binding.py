"""Request binding: a client that sends the parties different requests under one session id
gets no result.

Without the binding, ``where="age >= 0"`` at one hospital and ``where="age < 0"`` at the other
run programs of the same shape, and the "pooled" statistic is the first hospital's own. Here a
modified client (the honest client with one party's stub swapped for one that rewrites the
request) attacks real daemon processes over mutual TLS, for every analysis family: every party
refuses, the analyst gets :class:`~mpcstats.RequestMismatchError`, and every party's audit log
records the refusal with the request digest. The digest itself and the session's check (the
piggybacked and the dedicated round) are tested without daemons.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mpcstats
from mpcstats import RequestMismatchError
from mpcstats import protocols as P
from mpcstats.protocols.session import Session
from mpcstats.request import AnalysisRequest, certificate_fingerprint
from mpcstats.simulator import SCOPE, LocalSimulator
from mpcstats.stats.disclosure import CohortRecord, bound
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Column, Schema
from mpcstats.testing.loopback import ANALYST, LoopbackFederation
from mpcstats.transport._proto.v1 import analyst_pb2
from mpcstats.transport.memory import MemoryNetwork

SCHEMA = Schema(
    {
        "age": Column("age", "int", 0, 110),
        "smoker": Column("smoker", "bool"),
        "sex": Column("sex", "category", codes=("F", "M")),
        "cancer": Column("cancer", "bool"),
        "lab": Column("lab", "float", 0, 300, precision=0.1),
        "meter": Column("meter", "float", 0, 300, precision=0.1),
        "visits": Column("visits", "int", 0, 20),
    }
)
POLICY = Policy(allow_extremes=True)  # min and max are among the analyses attacked
HOSPITALS = ["hosp_a", "hosp_b"]
PARTIES = [*HOSPITALS, "helper"]  # a helper checks no schema: only the digest binds it
EVERYONE = "age >= 0"
NOBODY = "age < 0"  # sent to hosp_b alone, this would reveal hosp_a's own statistics

Tamper = Callable[[analyst_pb2.RunRequest], analyst_pb2.RunRequest]


def _cohort(rng: np.random.Generator, n: int) -> pd.DataFrame:
    age = rng.integers(30, 90, n)
    smoker = rng.integers(0, 2, n)
    cancer = (rng.random(n) < 1 / (1 + np.exp(6 - 0.06 * age - 1.2 * smoker))).astype(int)
    lab = np.round(rng.normal(120, 15, n).clip(0, 300), 1)
    meter = np.round((lab + rng.normal(2, 3, n)).clip(0, 300), 1)
    visits = rng.poisson(np.exp(0.5 + 0.01 * (age - 60) + 0.3 * smoker)).clip(0, 20)
    sex = rng.choice(["F", "M"], n)
    return pd.DataFrame(
        {
            "age": age,
            "smoker": smoker,
            "sex": sex,
            "cancer": cancer,
            "lab": lab,
            "meter": meter,
            "visits": visits,
        }
    )


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(8)
    return {"hosp_a": _cohort(rng, 300), "hosp_b": _cohort(rng, 250)}


@pytest.fixture(scope="module")
def federation(
    tmp_path_factory: pytest.TempPathFactory, frames: dict[str, pd.DataFrame]
) -> Iterator[LoopbackFederation]:
    daemons = LoopbackFederation(
        tmp_path_factory.mktemp("binding"),
        frames,
        SCHEMA,
        helpers=1,
        policies=dict.fromkeys(PARTIES, POLICY),
    )
    with daemons:
        yield daemons


@pytest.fixture(scope="module")
def study(federation: LoopbackFederation) -> Iterator[mpcstats.Federation]:
    with mpcstats.connect(**federation.connect_kwargs(), progress=False) as connected:
        yield connected


# the modified client --------------------------------------------------------------------------
@contextlib.contextmanager
def tampering(
    study: mpcstats.Federation, party: str, tamper: Tamper, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """The client sends ``party`` the tampered request and the others the honest one, under
    one session id; yields the session ids sent."""
    target = next(p for p in study._parties if p.name == party)
    honest = target.stub
    sessions: list[str] = []

    class TamperingStub:
        def Run(self, request: analyst_pb2.RunRequest, **kwargs: Any) -> Any:  # noqa: N802
            sessions.append(request.session_id)
            return honest.Run(tamper(_copy(request)), **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(target, "stub", TamperingStub())
        yield sessions


def _copy(request: analyst_pb2.RunRequest) -> analyst_pb2.RunRequest:
    copy = analyst_pb2.RunRequest()
    copy.CopyFrom(request)
    return copy


def replacing(old: str, new: str) -> Tamper:
    """Replace the argument ``old`` (a filter, column or formula) by ``new``, wherever the
    request has it: an analysis may send its call as another's (frequencies as count)."""

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: swap(item) for key, item in value.items()}
        if isinstance(value, list):
            return [swap(item) for item in value]
        return new if value == old else value

    def tamper(request: analyst_pb2.RunRequest) -> analyst_pb2.RunRequest:
        body = json.loads(request.arguments_json)
        request.arguments_json = json.dumps(swap(body))
        assert request.arguments_json != json.dumps(body), f"{old!r} is not an argument"
        return request

    return tamper


def policy(k: int) -> Tamper:
    def tamper(request: analyst_pb2.RunRequest) -> analyst_pb2.RunRequest:
        request.policy.k = k
        return request

    return tamper


def schema(changed: Schema) -> Tamper:
    def tamper(request: analyst_pb2.RunRequest) -> analyst_pb2.RunRequest:
        request.schema_json = changed.to_json()
        return request

    return tamper


def _end_records(federation: LoopbackFederation, session: str) -> dict[str, list[dict[str, Any]]]:
    """Each party's audit records of ``session`` (the analyst's id), once its end is written:
    the writer thread may still be syncing it when the analyst has the error."""
    key = f"{ANALYST}/{session}"
    deadline = time.monotonic() + 15
    while True:
        records = {
            name: [
                record
                for line in (federation.folder / name / "audit.jsonl").read_text().splitlines()
                if (record := json.loads(line)).get("session") == key
            ]
            for name in PARTIES
        }
        ended = all(any(r["event"] == "end" for r in rs) for rs in records.values())
        if ended or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


# every analysis family, attacked --------------------------------------------------------------
UNIT = Schema({**SCHEMA.columns, "lab": Column("lab", "float", 0, 300, 0.1, unit="mg/dl")})

# (method, args and kwargs of the honest call, the party attacked, its request rewritten). The
# column and formula swaps keep the program's shape; the stricter policy is one the attacked
# party accepts on its own; the helper checks no schema, so only the digest catches its change.
ATTACKS = [
    pytest.param(
        "count", (), {"where": EVERYONE}, "hosp_b", replacing(EVERYONE, NOBODY), id="count-where"
    ),
    pytest.param(
        "frequencies",
        ("sex",),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="frequencies-where",
    ),
    pytest.param(
        "frequencies", ("sex",), {}, "hosp_b", replacing("sex", "smoker"), id="frequencies-column"
    ),
    pytest.param(
        "histogram",
        ("age",),
        {"bins": 4, "where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="histogram-where",
    ),
    pytest.param(
        "crosstab",
        ("sex", "smoker"),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="crosstab-where",
    ),
    pytest.param(
        "describe",
        ("lab",),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="describe-where",
    ),
    pytest.param(
        "describe", ("lab",), {}, "hosp_a", replacing("lab", "meter"), id="describe-column"
    ),
    pytest.param("describe", ("lab",), {}, "hosp_b", policy(POLICY.k + 5), id="describe-policy"),
    pytest.param(
        "describe", ("lab",), {}, "helper", schema(UNIT), id="describe-schema-at-the-helper"
    ),
    pytest.param(
        "quantiles",
        ("age",),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="quantiles-where",
    ),
    pytest.param(
        "chi2",
        ("sex", "cancer"),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="chi2-where",
    ),
    pytest.param(
        "corr",
        (["age", "lab"],),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="corr-pearson-where",
    ),
    pytest.param(
        "corr",
        (["age", "visits"],),
        {"where": EVERYONE, "method": "spearman"},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="corr-spearman-where",
    ),
    pytest.param(
        "mann_whitney",
        ("age", "smoker"),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="mann_whitney-where",
    ),
    pytest.param(
        "mantel_haenszel",
        ("smoker", "cancer", "sex"),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="mantel_haenszel-where",
    ),
    pytest.param(
        "bland_altman",
        ("lab", "meter"),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="bland_altman-where",
    ),
    pytest.param(
        "ttest",
        ("lab", "meter"),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="ttest-paired-where",
    ),
    pytest.param(
        "ols",
        ("lab ~ age + smoker",),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="ols-where",
    ),
    pytest.param(
        "ols",
        ("lab ~ age + smoker",),
        {},
        "hosp_a",
        replacing("lab ~ age + smoker", "meter ~ age + smoker"),
        id="ols-formula",
    ),
    pytest.param(
        "logit",
        ("cancer ~ age + smoker",),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="logit-where",
    ),
    pytest.param(
        "poisson",
        ("visits ~ age + smoker",),
        {"where": EVERYONE},
        "hosp_b",
        replacing(EVERYONE, NOBODY),
        id="poisson-where",
    ),
    pytest.param(
        "min", ("age",), {"where": EVERYONE}, "hosp_b", replacing(EVERYONE, NOBODY), id="min-where"
    ),
    pytest.param(
        "max", ("age",), {"where": EVERYONE}, "hosp_b", replacing(EVERYONE, NOBODY), id="max-where"
    ),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "party", "tamper"), ATTACKS)
def test_a_request_sent_differently_to_one_party_is_refused_by_every_party(
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    party: str,
    tamper: Tamper,
    study: mpcstats.Federation,
    federation: LoopbackFederation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    others = [name for name in PARTIES if name != party]
    with (
        tampering(study, party, tamper, monkeypatch) as sessions,
        pytest.raises(
            RequestMismatchError, match=r"the analysis request differs at .*hosp_"
        ) as caught,
    ):
        getattr(study, method)(*args, **kwargs)
    assert "refuse the session" in str(caught.value)
    assert len(sessions) == 1  # one request per party: the attack ran one session
    records = _end_records(federation, sessions[0])
    digests = {}
    for name in PARTIES:
        run, end = (next(r for r in records[name] if r["event"] == e) for e in ("run", "end"))
        assert end["outcome"] == "RequestMismatchError", (name, end)
        assert run["request"] == end["request"] and len(end["request"]) == 64
        # the attacked party finds every other party's request different, and they its own
        assert end["differing"] == (others if name == party else [party]), (name, end)
        digests[name] = end["request"]
    assert digests[party] not in {digests[name] for name in others}
    assert len({digests[name] for name in others}) == 1


def test_the_daemons_keep_serving_honest_requests_after_refusals(
    study: mpcstats.Federation,
    federation: LoopbackFederation,
    frames: dict[str, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with (
        tampering(study, "hosp_b", replacing(EVERYONE, NOBODY), monkeypatch),
        pytest.raises(RequestMismatchError),
    ):
        study.describe("lab", where=EVERYONE)
    pooled = pd.concat(frames.values(), ignore_index=True)
    result = study.describe("lab", where=EVERYONE)
    assert result.n == len(pooled)
    assert result.mean == pytest.approx(pooled.lab.mean(), rel=1e-9)


def test_each_party_audits_the_digest_of_the_request_it_received(
    study: mpcstats.Federation,
    federation: LoopbackFederation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The digest covers the analyst's certificate: the parties hash what gRPC verified."""
    sent: list[analyst_pb2.RunRequest] = []

    def keep(request: analyst_pb2.RunRequest) -> analyst_pb2.RunRequest:
        sent.append(_copy(request))
        return request

    with tampering(study, "hosp_a", keep, monkeypatch) as sessions:
        assert study.count(where="smoker == 1").counts.iloc[0] > 0
    request = sent[0]
    expected = AnalysisRequest(
        session=f"{ANALYST}/{request.session_id}",
        analyst=ANALYST,
        certificate=certificate_fingerprint(Path(federation.analyst.cert).read_bytes()),
        dataset=request.dataset,
        method=request.method,
        arguments_json=request.arguments_json,
        k=request.policy.k,
        allow_extremes=request.policy.allow_extremes,
        max_parameter_fraction=request.policy.max_parameter_fraction,
        max_quantile_levels=request.policy.max_quantile_levels,
        schema_json=request.schema_json,
    ).digest()
    for name, records in _end_records(federation, sessions[0]).items():
        assert [r["event"] for r in records] == ["run", "witness", "end"], name
        assert {r["request"] for r in records} == {expected.hex()}, name
        assert records[-1]["outcome"] == "ok" and "differing" not in records[-1]


# the digest -----------------------------------------------------------------------------------
BASE = AnalysisRequest(
    session="analyst/42",
    analyst="analyst",
    certificate="ab" * 32,
    dataset="cohort",
    method="describe",
    arguments_json='{"args": ["lab"], "kwargs": {"where": "age >= 0", "by": null}}',
    k=5,
    allow_extremes=False,
    max_parameter_fraction=0.33,
    max_quantile_levels=9,
    schema_json=SCHEMA.to_json(),
)


def test_the_digest_ignores_key_order_and_whitespace() -> None:
    reordered = dataclasses.replace(
        BASE,
        arguments_json='{ "kwargs" : {"by": null,  "where": "age >= 0"},\n "args": ["lab"] }',
        schema_json=json.dumps(json.loads(SCHEMA.to_json()), indent=2),
    )
    assert reordered.digest() == BASE.digest() and len(BASE.digest()) == 32


CHANGES: dict[str, Any] = {
    "session": "analyst/43",
    "analyst": "auditor",
    "certificate": "cd" * 32,
    "dataset": "other",
    "method": "var",
    "arguments_json": '{"args": ["lab"], "kwargs": {"where": "age < 0", "by": null}}',
    "k": 6,
    "allow_extremes": True,
    "max_parameter_fraction": 0.25,
    "max_quantile_levels": 3,
    "schema_json": UNIT.to_json(),
}


def test_the_digest_changes_with_every_field() -> None:
    assert set(CHANGES) == {f.name for f in dataclasses.fields(AnalysisRequest)}
    digests = {
        name: dataclasses.replace(BASE, **{name: value}).digest() for name, value in CHANGES.items()
    }
    assert BASE.digest() not in digests.values()
    assert len(set(digests.values())) == len(CHANGES)


def test_the_digest_of_arguments_that_are_not_json_is_defined_and_distinct() -> None:
    broken = dataclasses.replace(BASE, arguments_json='{"args": [')
    deep = dataclasses.replace(BASE, arguments_json="[" * 100_000)  # too deep to parse
    as_text = dataclasses.replace(BASE, arguments_json=json.dumps('{"args": ['))
    assert len({broken.digest(), deep.digest(), as_text.digest(), BASE.digest()}) == 4


# the session's check, without daemons ---------------------------------------------------------
def _run_parties(
    digests: list[bytes | None], program: Callable[[Session], Any], names: tuple[str, ...] = ()
) -> tuple[list[Any], list[Session]]:
    """``program`` at three parties bound to ``digests``; each party's result or error."""

    async def main() -> list[Any]:
        network = MemoryNetwork(3, timeout=5)
        sessions.extend(
            Session(i, 3, network.channel(i), request_digest=digest, names=names)
            for i, digest in enumerate(digests)
        )
        for session in sessions:
            session.prepare_setup()
        return await asyncio.gather(*(program(s) for s in sessions), return_exceptions=True)

    sessions: list[Session] = []
    return asyncio.run(main()), sessions


SAME, OTHER = bytes(32), bytes([1]) * 32


def _pooling(used: list[int]) -> Callable[[Session], Any]:
    """Pool each party's value (an all-to-all first round), then open the sum."""

    async def program(session: Session) -> int:
        shares = await P.input_all(session, [10 + session.party], bits=8)
        used.append(session.party)  # reached only with the peers' shares in hand
        total = shares[0] + shares[1] + shares[2]
        return int((await P.open(session, total))[0])

    return program


def test_parties_agreeing_on_the_request_pool_without_an_extra_round() -> None:
    used: list[int] = []
    results, sessions = _run_parties([SAME] * 3, _pooling(used))
    assert results == [33, 33, 33] and sorted(used) == [0, 1, 2]
    unbound, plain = _run_parties([None] * 3, _pooling([]))
    assert unbound == [33, 33, 33]
    assert [s.stats.rounds for s in sessions] == [s.stats.rounds for s in plain] == [2, 2, 2]


def test_a_different_request_at_one_party_stops_every_party_before_it_uses_a_share() -> None:
    used: list[int] = []
    results, sessions = _run_parties(
        [SAME, OTHER, SAME], _pooling(used), names=("hosp_a", "hosp_b", "helper")
    )
    assert used == []  # no party got past its first round
    assert all(isinstance(r, RequestMismatchError) for r in results), results
    assert results[0].parties == ("hosp_b",) and results[2].parties == ("hosp_b",)
    assert results[1].parties == ("hosp_a", "helper")
    assert "at hosp_b (request 010101010101) from hosp_a's (request 000000000000)" in str(
        results[0]
    )
    assert [s.stats.rounds for s in sessions] == [1, 1, 1]


def _owner_first(sent: list[int]) -> Callable[[Session], Any]:
    """Party 0 shares a value with the others (not all-to-all), which is then opened."""

    async def program(session: Session) -> int:
        sent.append(session.stats.rounds)  # the rounds before the owner's input
        x = await P.input(session, [7] if session.party == 0 else None, owner=0, bits=8)
        return int((await P.open(session, x))[0])

    return program


def test_a_session_whose_first_round_is_not_all_to_all_agrees_in_a_round_first() -> None:
    results, sessions = _run_parties([SAME] * 3, _owner_first([]))
    assert results == [7, 7, 7]
    assert [s.stats.rounds for s in sessions] == [3, 3, 3]  # the digests' round, input, open
    results, sessions = _run_parties([OTHER, SAME, SAME], _owner_first([]))
    assert all(isinstance(r, RequestMismatchError) for r in results), results
    # the owner's share never left it: every party stopped after the round of digests
    assert [s.stats.rounds for s in sessions] == [1, 1, 1]
    assert [s.stats.messages_sent for s in sessions] == [2, 2, 2]
    assert results[1].parties == ("party 0",)


def test_a_simulated_analysis_binds_its_parties_to_its_request(
    frames: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[bytes | None] = []

    class Recording(Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            given.append(self.request_digest)

    monkeypatch.setattr("mpcstats.simulator.Session", Recording)
    study = LocalSimulator(frames, schema=SCHEMA, policy=POLICY)
    assert study.count(where="smoker == 1").counts.iloc[0] > 0
    # no round added: pooling, the count's gate (2) and the excluded rule's (1)
    assert study.last_run is not None and study.last_run.rounds == 4
    expected = AnalysisRequest(
        session="simulation",
        analyst="",
        certificate="",
        dataset="",
        method="count",
        arguments_json=json.dumps({"where": "smoker == 1", "by": None}),
        k=POLICY.k,
        allow_extremes=POLICY.allow_extremes,
        max_parameter_fraction=POLICY.max_parameter_fraction,
        max_quantile_levels=POLICY.max_quantile_levels,
        schema_json=SCHEMA.to_json(),
    ).digest()
    state = CohortRecord().state(SCOPE)  # no analysis recorded yet
    assert given == [bound(expected, state)] * 3
    given.clear()
    assert LocalSimulator(n=3).run(_pooling([])).outputs == [33, 33, 33]  # bare: unbound
    assert given == [None] * 3
