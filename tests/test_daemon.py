"""Party daemons as real processes on loopback: access control, failures, shutdown, audit.

The statistics themselves run over daemons in test_stats, test_models and test_tests (the
``grpc`` parameter of ``make_study``); this file tests what only a deployment has.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import mpcstats
from mpcstats.cli import main
from mpcstats.party.audit import AuditLog, load_certificate, load_key, verify
from mpcstats.party.config import load_config
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Column, Schema
from mpcstats.testing.loopback import LoopbackFederation
from mpcstats.transport.grpc_channel import Limits
from mpcstats.transport.pki import create_ca, issue
from tests.conftest import SMOKERS, smokers

MPCSTATS = Path(sys.executable).parent / "mpcstats"  # the command the package installs


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(21)
    return {
        name: smokers(rng, n) for name, n in [("hosp_a", 3000), ("hosp_b", 800), ("hosp_c", 2000)]
    }


@pytest.fixture(scope="module")
def federation(
    tmp_path_factory: pytest.TempPathFactory, frames: dict[str, pd.DataFrame]
) -> Iterator[LoopbackFederation]:
    daemons = LoopbackFederation(tmp_path_factory.mktemp("daemons"), frames, SMOKERS)
    with daemons:
        yield daemons


@pytest.fixture(scope="module")
def study(federation: LoopbackFederation) -> Iterator[mpcstats.Federation]:
    with mpcstats.connect(**federation.connect_kwargs(), progress=False) as connected:
        yield connected


def _pooled(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames.values(), ignore_index=True)


def test_the_client_learns_the_federation_and_its_schema(study: mpcstats.Federation) -> None:
    assert study.names == ["hosp_a", "hosp_b", "hosp_c"] and study.n == 3
    assert study.dataset == "cohort" and study.schema == SMOKERS
    assert "hosp_a" in repr(study) and "cohort" in repr(study)


def test_an_analyst_from_another_ca_is_refused(
    federation: LoopbackFederation, tmp_path: Path
) -> None:
    stranger = issue(create_ca(tmp_path / "other"), "analyst")
    with pytest.raises(mpcstats.AccessDeniedError, match="TLS handshake"):
        mpcstats.connect(
            federation.addresses, ca=federation.analyst.ca, cert=stranger.cert, key=stranger.key
        )


@pytest.mark.usefixtures("study")  # the daemons are up
def test_a_caller_without_a_certificate_never_reaches_the_service(
    federation: LoopbackFederation,
) -> None:
    """TLS itself refuses a client that presents no certificate: the call fails before any
    handler runs (UNAVAILABLE, the handshake's failure), and nothing is audited."""
    from mpcstats.transport._proto.v1 import analyst_pb2, analyst_pb2_grpc

    ca = Path(federation.analyst.ca).read_bytes()
    address = federation.addresses["hosp_a"]

    async def call() -> grpc.StatusCode:
        options = [("grpc.ssl_target_name_override", "hosp_a")]
        credentials = grpc.ssl_channel_credentials(ca)  # no client key or certificate
        async with grpc.aio.secure_channel(address, credentials, options=options) as channel:
            stub = analyst_pb2_grpc.AnalystStub(channel)
            try:
                await stub.Describe(analyst_pb2.DescribeRequest(), timeout=5)
            except grpc.aio.AioRpcError as error:
                return error.code()
        return grpc.StatusCode.OK

    audit = federation.folder / "hosp_a" / "audit.jsonl"
    time.sleep(0.5)  # earlier tests' last records reach the disk
    records = len(_read(audit))
    assert asyncio.run(call()) == grpc.StatusCode.UNAVAILABLE
    assert len(_read(audit)) == records  # not even a refusal: no handler ran


def test_synchronous_calls_work_inside_a_running_event_loop(
    study: mpcstats.Federation, frames: dict[str, pd.DataFrame]
) -> None:
    """As in a Jupyter cell, whose code runs while the kernel's event loop runs."""

    async def cell() -> float:
        return float(study.count().counts.iloc[0])

    assert asyncio.run(cell()) == len(_pooled(frames))


def test_an_analysis_past_its_deadline_fails_and_the_parties_serve_the_next(
    federation: LoopbackFederation,
) -> None:
    """Every analyst call carries a deadline (query_timeout): a fit that outlives it fails
    with the deadline named, and the parties end that session and serve the next one."""
    kwargs = federation.connect_kwargs()
    hurried = mpcstats.connect(**kwargs, progress=False, query_timeout=0.5)
    late = pytest.raises(mpcstats.PartyUnavailableError, match="DEADLINE_EXCEEDED")
    with hurried, late:
        hurried.logit("cancer ~ age + smoker + C(sex)", where=SEPARATED, maxiter=200)
    with mpcstats.connect(**kwargs, progress=False) as study:
        assert _eventually(lambda: study.count().counts.iloc[0]) == 5800


def test_a_long_call_shows_a_progress_bar(
    federation: LoopbackFederation, capsys: pytest.CaptureFixture[str]
) -> None:
    connected = mpcstats.connect(**federation.connect_kwargs(), progress=True)
    # long on purpose: the bar appears after a second
    with connected as study, pytest.warns(RuntimeWarning, match="did not converge"):
        study.logit("cancer ~ age + smoker + C(sex)", where=SEPARATED, maxiter=40)
    shown = capsys.readouterr().err
    assert "logit" in shown and "rounds" in shown  # tqdm's bar: the method, rounds so far


def test_a_certificate_not_named_as_analyst_is_refused(federation: LoopbackFederation) -> None:
    party = federation.folder / "pki"  # hosp_b's own certificate is a party's, not an analyst's
    with pytest.raises(mpcstats.AccessDeniedError, match="'hosp_b' is not an analyst"):
        mpcstats.connect(
            federation.addresses,
            ca=party / "ca.pem",
            cert=party / "hosp_b.pem",
            key=party / "hosp_b.key",
        )


def test_a_server_with_another_partys_name_is_refused(federation: LoopbackFederation) -> None:
    swapped = dict(federation.addresses)
    swapped["hosp_a"], swapped["hosp_b"] = swapped["hosp_b"], swapped["hosp_a"]
    with pytest.raises(mpcstats.AccessDeniedError):
        mpcstats.connect(
            swapped, **{k: v for k, v in federation.connect_kwargs().items() if k != "parties"}
        )


def test_connect_takes_a_list_of_addresses_whose_hosts_are_the_party_names(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    """The list form: each host is the name the party's certificate carries (here loopback
    addresses, certified as IP addresses), given in any order."""
    names = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    tables = dict(zip(names, frames.values(), strict=True))
    with LoopbackFederation(tmp_path, tables, SMOKERS, hosts={n: n for n in names}) as daemons:
        kwargs = daemons.connect_kwargs()
        addresses = list(kwargs.pop("parties").values())[::-1]
        with mpcstats.connect(addresses, **kwargs, progress=False) as listed:
            assert listed.names == names
            assert listed.count().counts.iloc[0] == 5800
        with pytest.raises(mpcstats.ConfigurationError, match=r"'127\.0\.0\.1' is not host:port"):
            mpcstats.connect(["127.0.0.1", *addresses[1:]], **kwargs)


def test_every_party_must_be_listed(federation: LoopbackFederation) -> None:
    kwargs = federation.connect_kwargs()
    kwargs["parties"] = {k: v for k, v in kwargs["parties"].items() if k != "hosp_c"}
    with pytest.raises(mpcstats.ConfigurationError, match=r"missing: \['hosp_c'\]"):
        mpcstats.connect(**kwargs)


@pytest.mark.usefixtures("study")  # the daemons are up
def test_health_service_reports_serving(federation: LoopbackFederation) -> None:
    assert asyncio.run(_health(federation, "hosp_a")) == health_pb2.HealthCheckResponse.SERVING


async def _health(federation: LoopbackFederation, name: str) -> int:
    """The party's status from the standard health service, asked with the analyst's
    certificate."""
    analyst = federation.analyst
    credentials = grpc.ssl_channel_credentials(
        analyst.ca.read_bytes(), analyst.key.read_bytes(), analyst.cert.read_bytes()
    )
    options = [("grpc.ssl_target_name_override", name)]
    address = federation.addresses[name]
    async with grpc.aio.secure_channel(address, credentials, options=options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        return int(reply.status)


def test_concurrent_calls_of_one_analyst_queue_and_stay_isolated(
    study: mpcstats.Federation, frames: dict[str, pd.DataFrame]
) -> None:
    """An analyst's aio calls run one after another (each analysis' overlap check must see the
    sets of the one before), each with its own result."""
    pooled = _pooled(frames)

    async def both() -> list[object]:
        return await asyncio.gather(
            study.aio.count(where="smoker == 1"),
            study.aio.describe("age", by="sex"),
            study.aio.count(where="age >= 60"),
        )

    smokers, ages, older = asyncio.run(both())
    assert smokers.counts.iloc[0] == (pooled.smoker == 1).sum()  # type: ignore[attr-defined]
    assert older.counts.iloc[0] == (pooled.age >= 60).sum()  # type: ignore[attr-defined]
    np.testing.assert_allclose(ages.frame["mean"], pooled.groupby("sex").age.mean(), rtol=1e-9)  # type: ignore[attr-defined]


def test_two_analysts_who_pick_the_same_session_id_stay_apart(
    tmp_path: Path, frames: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session id lives in its analyst's namespace: sessions of two analysts with the same
    id run side by side, each with its own query and result."""
    daemons = LoopbackFederation(tmp_path, frames, SMOKERS, analysts=("analyst", "auditor"))
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=42))  # every call: one id
    pooled = _pooled(frames)
    with (
        daemons,
        mpcstats.connect(**daemons.connect_kwargs(0), progress=False) as first,
        mpcstats.connect(**daemons.connect_kwargs(1), progress=False) as second,
    ):

        async def both() -> list[Any]:
            return await asyncio.gather(
                first.aio.describe("age"), second.aio.describe("age", where="smoker == 1")
            )

        everyone, smokers_only = asyncio.run(both())
    assert everyone.mean == pytest.approx(pooled.age.mean(), rel=1e-9)
    assert smokers_only.mean == pytest.approx(pooled.age[pooled.smoker == 1].mean(), rel=1e-9)
    sessions = {r["session"] for r in _records(daemons, "hosp_a", "run")}
    assert sessions == {f"{name}/{uuid.UUID(int=42)}" for name in ("analyst", "auditor")}


def test_when_parties_disagree_on_k_the_strictest_applies(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    policies = {"hosp_a": Policy(k=3), "hosp_b": Policy(k=12), "hosp_c": Policy(k=5)}
    daemons = LoopbackFederation(tmp_path, frames, SMOKERS, policies=policies)
    pooled = _pooled(frames)
    where = "age == 89 and smoker == 1 and cancer == 0"  # 6 and 5: between the parties' k
    with daemons, mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study:
        assert study.policy.k == 12
        counts = study.count(where=where, by="sex").counts
    chosen = pooled[(pooled.age == 89) & (pooled.smoker == 1) & (pooled.cancer == 0)]
    true = chosen.sex.value_counts().reindex(["F", "M"], fill_value=0)
    assert ((true >= 5) & (true < 12)).any()  # released under k = 5, not under k = 12
    for sex in ("F", "M"):
        assert np.isnan(counts[sex]) if true[sex] < 12 else counts[sex] == true[sex]


def test_a_request_with_another_schema_is_refused_column_by_column(
    study: mpcstats.Federation,
) -> None:
    original = study.schema
    study.schema = Schema({**original.columns, "age": Column("age", "int", 0, 120)})
    try:
        with pytest.raises(
            mpcstats.SchemaError,
            match=r"(hosp_\w)'s schema of 'cohort' differs from the request's: column 'age': "
            r"\1 declares .*110.*, the study .*120",
        ):
            study.count()
    finally:
        study.schema = original


def test_a_request_looser_than_a_partys_policy_is_refused(study: mpcstats.Federation) -> None:
    strict = study.policy
    try:
        study.policy = Policy(k=2)  # the strictest policy of the parties is k = 5
        with pytest.raises(
            mpcstats.PolicyError, match=r"less strict than hosp_\w's policy: k = 2 < 5"
        ):
            study.count()
    finally:
        study.policy = strict
    assert study.count().counts.iloc[0] == 5800


def test_a_request_with_a_malformed_policy_is_refused(study: mpcstats.Federation) -> None:
    """A hand-made client could send a parameter fraction of NaN or below 0, which would break
    or void the model size guard: every party refuses it."""
    strict = study.policy
    for fraction in (float("nan"), -0.5, 0.0):
        malformed = Policy()
        object.__setattr__(malformed, "max_parameter_fraction", fraction)  # past the check
        try:
            study.policy = malformed
            with pytest.raises(mpcstats.PolicyError, match=r"lies in \(0, 1\], not"):
                study.ols("age ~ smoker")
        finally:
            study.policy = strict
    for fraction in (float("nan"), -0.5, 0.0, 1.5):
        with pytest.raises(mpcstats.PolicyError, match="max_parameter_fraction"):
            Policy(max_parameter_fraction=fraction)


# Rows where smoking separates the outcome: Newton's method diverges, so this logit runs all
# its 200 steps (many seconds over gRPC) and a cancel or a kill after one second lands mid-fit.
SEPARATED = "(smoker == 1 and cancer == 1) or (smoker == 0 and cancer == 0)"


def _long_fit(study: mpcstats.Federation) -> Awaitable[Any]:
    return study.aio.logit("cancer ~ age + smoker + C(sex)", where=SEPARATED, maxiter=200)


def test_cancelling_a_call_stops_the_session_everywhere(
    study: mpcstats.Federation, federation: LoopbackFederation
) -> None:
    async def cancel_midway() -> None:
        task = asyncio.ensure_future(_long_fit(study))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    _assert_every_party_ended_the_logit_unfinished(federation)
    assert study.count().counts.iloc[0] == 5800  # the parties serve the next session


def test_ctrl_c_cancels_a_synchronous_call_everywhere(
    study: mpcstats.Federation, federation: LoopbackFederation
) -> None:
    """SIGINT reaches the main thread, blocked in the synchronous call, as KeyboardInterrupt;
    the call is cancelled on the client's loop and every party stops the session."""
    calling, lock = threading.Event(), threading.Lock()

    def ctrl_c() -> None:
        time.sleep(1.0)  # into the fit's 200 Newton steps
        with lock:  # the call cannot end between this check and the signal
            if calling.is_set():
                os.kill(os.getpid(), signal.SIGINT)

    # as in a terminal or a notebook; a job started in the background ignores SIGINT instead
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupter = threading.Thread(target=ctrl_c)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            calling.set()
            interrupter.start()
            try:
                study.logit("cancer ~ age + smoker + C(sex)", where=SEPARATED, maxiter=200)
            finally:
                with lock:
                    calling.clear()
    finally:
        interrupter.join()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 5
    _assert_every_party_ended_the_logit_unfinished(federation)
    assert study.count().counts.iloc[0] == 5800


def _assert_every_party_ended_the_logit_unfinished(federation: LoopbackFederation) -> None:
    ends = _logit_ends(federation, federation.names)
    assert all(e["outcome"] != "ok" for e in ends), ends


def _logit_ends(federation: LoopbackFederation, names: list[str]) -> list[dict[str, Any]]:
    """The parties' last audit records once each has ended a logit session (they are written
    by a writer thread, after the party has answered)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ends = [(_records(federation, name, "end") or [{}])[-1] for name in names]
        if all(e.get("method") == "logit" for e in ends):
            break
        time.sleep(0.2)
    assert all(e.get("method") == "logit" for e in ends), ends
    return ends


def test_a_killed_party_is_named_within_seconds_and_the_next_session_runs(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    daemons = LoopbackFederation(tmp_path, frames, SMOKERS, timeout=30)
    with daemons, mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study:
        assert study.count().counts.iloc[0] == 5800

        async def kill_midway() -> datetime.datetime:
            task = asyncio.ensure_future(_long_fit(study))
            await asyncio.sleep(1.0)
            daemons.kill("hosp_c")
            killed = datetime.datetime.now(datetime.UTC)
            with pytest.raises(mpcstats.PartyUnavailableError, match=r"party 2 \(hosp_c\)"):
                await task
            return killed

        killed = asyncio.run(kill_midway())
        ends = _logit_ends(daemons, ["hosp_a", "hosp_b"])
        assert all(e["outcome"] != "ok" for e in ends)
        for end in ends:  # each survivor ended the session within 10 s of the kill
            ended = datetime.datetime.fromisoformat(str(end["time"]))
            assert (ended - killed).total_seconds() < 10, end
        # each survivor noticed hosp_c itself (the other may have stopped the session first)
        assert any(e["outcome"] == "PartyUnavailableError" for e in ends)
        for name in ("hosp_a", "hosp_b"):
            assert _eventually(
                lambda name=name: "party 2 (hosp_c) unavailable" in daemons.log(name)
            )
        daemons.start("hosp_c")
        assert _eventually(lambda: study.count().counts.iloc[0]) == 5800


def test_sigterm_mid_session_aborts_it_with_a_reason_everywhere(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    """A party stopping with a session still running (past its grace) aborts it: the analyst
    and the other parties are told which party is shutting down, and the audit logs end the
    session; the restarted party serves the next session."""
    daemons = LoopbackFederation(tmp_path, frames, SMOKERS, timeout=30, shutdown_grace=0.2)
    with daemons, mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study:
        assert study.count().counts.iloc[0] == 5800

        async def stop_midway() -> None:
            task = asyncio.ensure_future(_long_fit(study))
            await asyncio.sleep(1.0)
            daemons.processes["hosp_c"].send_signal(signal.SIGTERM)
            with pytest.raises(mpcstats.MpcStatsError, match="hosp_c is shutting down"):
                await task

        asyncio.run(stop_midway())
        assert daemons.processes["hosp_c"].wait(15) == 0
        for name in daemons.names:
            end = _records(daemons, name, "end")[-1]
            assert end["method"] == "logit" and end["outcome"] == "ChannelClosedError", name
        assert [r["event"] for r in _read(daemons.folder / "hosp_c" / "audit.jsonl")][-1] == "stop"
        daemons.start("hosp_c")
        assert _eventually(lambda: study.count().counts.iloc[0]) == 5800


def test_sigterm_lets_a_session_finish_within_the_grace(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    """A party told to stop while a session runs reports NOT_SERVING at once, finishes the
    session with the others (the analyst gets the fit), then exits 0."""
    daemons = LoopbackFederation(tmp_path, frames, SMOKERS, timeout=30, shutdown_grace=60)
    with daemons, mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study:

        async def stop_midway() -> tuple[list[int], Any]:
            task = asyncio.ensure_future(_long_fit(study))
            await asyncio.sleep(1.0)
            daemons.processes["hosp_c"].send_signal(signal.SIGTERM)
            statuses = [await _health(daemons, "hosp_c")]
            while statuses[-1] == health_pb2.HealthCheckResponse.SERVING and len(statuses) < 50:
                await asyncio.sleep(0.1)
                statuses.append(await _health(daemons, "hosp_c"))
            return statuses, await task

        with pytest.warns(RuntimeWarning, match="did not converge"):
            statuses, fit = asyncio.run(stop_midway())
        assert statuses[-1] == health_pb2.HealthCheckResponse.NOT_SERVING
        assert len(fit.params) == 4 and np.isfinite(fit.params).all()
        assert daemons.processes["hosp_c"].wait(30) == 0
        end = _records(daemons, "hosp_c", "end")[-1]
        assert end["method"] == "logit" and end["outcome"] == "ok"


def test_daemons_read_parquet_files(tmp_path: Path, frames: dict[str, pd.DataFrame]) -> None:
    daemons = LoopbackFederation(tmp_path, frames, SMOKERS, file_format="parquet")
    with daemons, mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study:
        result = study.describe("age", by="sex")
    pooled = _pooled(frames)
    for sex, group in pooled.groupby("sex"):
        assert result.frame.loc[sex, "n"] == len(group)
        assert result.frame.loc[sex, "mean"] == pytest.approx(group.age.mean(), rel=1e-12)


def test_hospitals_with_different_schemas_are_refused_column_by_column(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    other = Schema({**SMOKERS.columns, "age": Column("age", "int", 0, 120)})
    other.columns.pop("smoker")
    tables = {
        name: frame.drop(columns="smoker") if name == "hosp_b" else frame
        for name, frame in frames.items()
    }
    daemons = LoopbackFederation(tmp_path, tables, SMOKERS, schemas={"hosp_b": other})
    with daemons, pytest.raises(mpcstats.SchemaError) as refused:
        mpcstats.connect(**daemons.connect_kwargs())
    message = str(refused.value)
    assert "column 'age': hosp_b declares" in message
    assert "column 'smoker': hosp_b does not have it" in message


def test_shutdown_is_graceful_and_the_audit_chain_holds(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    daemons = LoopbackFederation(tmp_path, frames, SMOKERS)
    with daemons, mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study:
        result = study.describe("age", where="smoker == 1")
    assert daemons.stop() == dict.fromkeys(daemons.names, 0)
    # the parties never see the output, and their logs and audit records hold no result
    shown = [f"{result.mean:.6g}", f"{result.var:.6g}", f"{result.std:.6g}"]
    for name in daemons.names:
        written = daemons.log(name) + (daemons.folder / name / "audit.jsonl").read_text()
        assert not [value for value in shown if value in written], name
    for name in daemons.names:
        path = daemons.folder / name / "audit.jsonl"
        last = verify(path, load_certificate(daemons.folder / "pki" / f"{name}.pem"))
        events = [r["event"] for r in _read(path)]
        assert events == ["start", "run", "witness", "end", "stop"] and last.seq == 4
        run = _read(path)[1]
        assert run["method"] == "describe" and "smoker == 1" in run["arguments"]
        log = daemons.log(name)
        assert '"message": "analysis ended"' in log and '"outcome": "ok"' in log


def test_audit_records_submitted_to_the_writer_thread_keep_their_order(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    party = issue(create_ca(tmp_path / "pki"), "a")
    log = AuditLog(path, load_key(party.key))
    first = log.submit("run", number=0)
    for i in range(1, 20):
        log.submit("run", number=i)
    log.append("refused", certificate="x")  # a direct write may land among them: one chain
    log.flush()
    assert first.done() and verify(path, load_certificate(party.cert)).seq == 20
    numbers = [r["number"] for r in _read(path) if r["event"] == "run"]
    assert numbers == list(range(20))


def test_configuration_errors_name_the_file_section_and_key(tmp_path: Path) -> None:
    config = tmp_path / "party.toml"
    config.write_text('[party]\nname = "a"\nlisten = "127.0.0.1:0"\n')
    with pytest.raises(
        mpcstats.ConfigurationError, match=r"party.toml: needs a \[federation\] section"
    ):
        load_config(config)
    config.write_text('[party]\nname = 7\nlisten = "127.0.0.1:0"\n')
    with pytest.raises(
        mpcstats.ConfigurationError, match=r"\[party\] name must be a string, not 7"
    ):
        load_config(config)
    config.write_text('[party]\nname = "a"\n[parties]\n')
    with pytest.raises(mpcstats.ConfigurationError, match=r"unknown section\(s\) \['parties'\]"):
        load_config(config)


def _minimal_config(folder: Path, party: str = "", tail: str = "") -> Path:
    """A party.toml for party "a" with one CSV dataset; ``party`` adds [party] keys and
    ``tail`` ends the file. Its files exist but are empty: loading only checks presence."""
    for name in ("ca.pem", "a.pem", "a.key"):
        (folder / name).touch()
    (folder / "schema.json").write_text(Schema({"age": Column("age", "int", 0, 110)}).to_json())
    config = folder / "party.toml"
    config.write_text(
        "\n".join(
            [
                f'[party]\nname = "a"\nlisten = "127.0.0.1:0"\n{party}',
                '[federation]\nparties = ["a", "b", "c"]',
                'addresses = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]\nanalysts = ["x"]',
                '[tls]\nca = "ca.pem"\ncert = "a.pem"\nkey = "a.key"',
                '[audit]\npath = "audit.jsonl"',
                '[datasets.cohort]\nformat = "csv"\npath = "data.csv"\nschema = "schema.json"',
                tail,
            ]
        )
    )
    return config


def test_a_stage_file_is_a_path_relative_to_the_configuration(tmp_path: Path) -> None:
    config = _minimal_config(tmp_path, tail="stage = 7\n")
    with pytest.raises(
        mpcstats.ConfigurationError,
        match=r'\[datasets.cohort\] needs stage = "..." \(a string\), not 7',
    ):
        load_config(config)
    config = _minimal_config(tmp_path, tail='stage = "staged/cohort.sqlite"\n')
    source = load_config(config).datasets["cohort"].source
    assert source["stage"] == str(tmp_path / "staged" / "cohort.sqlite")


def test_transport_limits_come_from_the_party_section(tmp_path: Path) -> None:
    assert load_config(_minimal_config(tmp_path)).limits == Limits()
    party = "max_message_mib = 1.5\nkeepalive = 2\nkeepalive_timeout = 0.5"
    limits = load_config(_minimal_config(tmp_path, party)).limits
    assert limits == Limits(max_message=3 * 2**19, keepalive=2.0, keepalive_timeout=0.5)
    refusals = {
        "max_message_mib = 0.0001": r"party.toml: \[party\] the message limit \(max_message_mib\) "
        r"must be at least 1 KiB and below 2 GiB, not 0.0001 MiB",
        "keepalive = 0.1": r"\[party\] keepalive must be at least 1 s and keepalive_timeout "
        r"positive, both at most 2147483 s, not 0.1 s and 5 s",
        "keepalive_timeout = 1e12": r"not 10 s and 1e\+12 s",
        'keepalive = "often"': r"\[party\] keepalive must be a number, not 'often'",
        "max_message_mib = nan": r"\[party\] max_message_mib must be a finite number, not nan",
        "keepalive = inf": r"\[party\] keepalive must be a finite number, not inf",
    }
    for line, message in refusals.items():
        with pytest.raises(mpcstats.ConfigurationError, match=message):
            load_config(_minimal_config(tmp_path, line))


def test_misspelt_missing_or_mistyped_keys_name_the_file_and_section(tmp_path: Path) -> None:
    registry = '[datasets.registry]\nformat = "sql"\nurl = "sqlite://"\ntable = "t"\n'
    refusals = {
        ("keepalive_timout = 5", ""): r"party.toml: \[party\] has unknown key\(s\) "
        r"\['keepalive_timout'\]; it takes \[.*'keepalive_timeout'",
        ("", 'url = "sqlite://"'): r"\[datasets.cohort\] has unknown key\(s\) \['url'\]",
        ("", registry.replace('format = "sql"', 'format = "excel"')): r"\[datasets.registry\] "
        r'needs format = "csv", "parquet" or "sql", not \'excel\'',
        ("", registry.replace('format = "sql"', 'format = ["sql"]')): r"\[datasets.registry\] "
        r"needs format = .*, not \['sql'\]",
        ("", registry + "schema = 7"): r'\[datasets.registry\] needs schema = "..." \(a string\), '
        r"not 7",
        ("", registry.replace('table = "t"\n', 'schema = "schema.json"\n')): r"\[datasets."
        r'registry\] needs table = "..." \(a string\), not None',
    }
    for (party, tail), message in refusals.items():
        with pytest.raises(mpcstats.ConfigurationError, match=message):
            load_config(_minimal_config(tmp_path, party, tail))


def test_a_dataset_the_daemon_cannot_load_is_named_with_the_configuration(tmp_path: Path) -> None:
    config = _minimal_config(tmp_path)  # its data.csv does not exist
    done = subprocess.run(
        [MPCSTATS, "party", "serve", "--config", config], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert f"mpcstats: {config}: [datasets.cohort]: cannot read" in done.stderr, done.stderr


def test_a_policy_error_names_the_file_and_section_once(tmp_path: Path) -> None:
    with pytest.raises(mpcstats.ConfigurationError) as caught:
        load_config(_minimal_config(tmp_path, tail="[policy]\nk = 1.5\n"))
    assert str(caught.value) == f"{tmp_path / 'party.toml'}: [policy] k must be an integer, not 1.5"


def test_the_certs_command_writes_private_keys_for_their_owner_only(tmp_path: Path) -> None:
    """Through the installed ``mpcstats`` command, as the deployment guide runs it."""
    arguments = ["certs", "--out", str(tmp_path), "--party", "hosp_a", "--analyst", "dr_jones"]
    done = subprocess.run([MPCSTATS, *arguments], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name in ("ca", "hosp_a", "dr_jones"):
        assert (tmp_path / f"{name}.pem").exists()
        assert stat.S_IMODE(os.stat(tmp_path / f"{name}.key").st_mode) == 0o600
    assert main(["certs", "--out", str(tmp_path), "--party", "hosp_b"]) == 0  # the same CA
    assert not (tmp_path / "hosp_b.key").read_text().startswith("-----BEGIN CERTIFICATE")


def _read(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _records(federation: LoopbackFederation, name: str, event: str) -> list[dict[str, object]]:
    return [r for r in _read(federation.folder / name / "audit.jsonl") if r["event"] == event]


def _eventually(action: object, seconds: float = 20.0) -> object:
    """The action's first truthy result, retried while it fails with a missing party (a restart
    is under way) or is falsy (a log line not written yet)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = action()  # type: ignore[operator]
            if result or time.monotonic() > deadline:
                return result
        except mpcstats.PartyUnavailableError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)
