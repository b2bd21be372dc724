"""Signed, witnessed audit logs: real daemons write them, and every rewrite is found.

A federation of daemons runs analyses, restarts and runs one more; each attack then works on a
copy of its logs: the single-log check (chain and signatures) finds edits, deletions and
reorderings by anyone without the party's key, and the cross-log check (the peers' witness
statements) finds truncation and a party's own operator rewriting and re-signing its log.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

import mpcstats
from mpcstats import AuditError
from mpcstats.cli import main
from mpcstats.party.audit import (
    MAX_ARGUMENTS,
    AuditLog,
    Head,
    arguments,
    load_certificate,
    load_certificates,
    load_key,
    statement,
    verify,
    verify_federation,
)
from mpcstats.testing.loopback import LoopbackFederation
from mpcstats.transport.pki import create_ca, issue
from tests.conftest import SMOKERS, smokers

PARTIES = ["hosp_a", "hosp_b", "hosp_c"]
SESSIONS = 3  # two before the restart, one after


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackFederation]:
    """Stopped daemons whose logs hold three sessions, across a restart; a pristine copy of
    the logs is in folder/pristine."""
    rng = np.random.default_rng(5)
    frames = {name: smokers(rng, 300) for name in PARTIES}
    daemons = LoopbackFederation(tmp_path_factory.mktemp("audit"), frames, SMOKERS)
    with daemons, mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study:
        study.count()
        study.describe("age", where="smoker == 1")
    with daemons, mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study:
        study.count(where="age >= 40")  # the restarted daemons continue their chains
    pristine = daemons.folder / "pristine"
    pristine.mkdir()
    for name in PARTIES:
        shutil.copy(_live(daemons, name), pristine / f"{name}.jsonl")
    yield daemons
    daemons.stop()  # a daemon a test started


@pytest.fixture
def logs(federation: LoopbackFederation, tmp_path: Path) -> dict[str, Path]:
    """A copy of the pristine logs, one per party, for one attack."""
    for name in PARTIES:
        shutil.copy(federation.folder / "pristine" / f"{name}.jsonl", tmp_path)
    return {name: tmp_path / f"{name}.jsonl" for name in PARTIES}


def _live(federation: LoopbackFederation, name: str) -> Path:
    return federation.folder / name / "audit.jsonl"


def _pki(federation: LoopbackFederation) -> Path:
    return federation.folder / "pki"


def _check_alone(federation: LoopbackFederation, path: Path, party: str) -> int:
    """The single-log check; returns the number of records."""
    return verify(path, load_certificate(_pki(federation) / f"{party}.pem")).seq + 1


def _check_together(federation: LoopbackFederation, logs: dict[str, Path]) -> dict[str, int]:
    return verify_federation(list(logs.values()), load_certificates(_pki(federation), PARTIES))


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _line(path: Path, event: str, session: int) -> int:
    """The line of the ``session``-th (from 0) ``event`` record."""
    lines = [n for n, r in enumerate(_records(path), start=1) if r["event"] == event]
    return lines[session]


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def _resign(path: Path, records: list[dict[str, Any]], key: Path, keep: int = 0) -> None:
    """``records`` as a log signed with ``key``: the first ``keep`` as they are, every later
    hash and signature recomputed; what an operator holding that key can do."""
    _write(path, records[:keep])
    log = AuditLog(path, load_key(key))
    chained = {"seq", "time", "event", "prev", "hash", "sig"}
    for record in records[keep:]:
        log.append(record["event"], **{k: v for k, v in record.items() if k not in chained})


def _edit_second_run(record: dict[str, Any]) -> None:
    """Pin the describe on another analyst, over other records."""
    assert record["event"] == "run" and "smoker == 1" in record["arguments"]
    record["analyst"] = "dr_nobody"
    record["arguments"] = record["arguments"].replace("smoker == 1", "smoker == 0")


# the untouched logs ----------------------------------------------------------------------------
def test_the_untouched_logs_verify_alone_and_together(
    federation: LoopbackFederation, logs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for name, path in logs.items():
        events = [r["event"] for r in _records(path)]
        session = ["run", "witness", "end"]
        assert events == ["start", *session, *session, "stop", "start", *session, "stop"], name
        assert _check_alone(federation, path, name) == len(events)
        assert all(len(r["sig"]) > 100 for r in _records(path))  # a DER ECDSA signature, hex
    # every party witnessed each of the others in every session
    assert _check_together(federation, logs) == dict.fromkeys(PARTIES, 2 * SESSIONS)
    pki = _pki(federation)
    assert main(["audit", "verify", str(logs["hosp_a"]), "--cert", str(pki / "hosp_a.pem")]) == 0
    assert main(["audit", "verify", *map(str, logs.values()), "--certs", str(pki)]) == 0
    assert main(["audit", "verify", *map(str, logs.values()), "--cert", str(pki / "x.pem")]) == 2
    shown = capsys.readouterr().out
    assert "hosp_a.jsonl: 13 records, chain and signatures intact" in shown
    assert "hosp_c's log intact; its 6 witness statements match" in shown


def test_a_witness_record_holds_each_peers_statement_of_the_session(
    logs: dict[str, Path],
) -> None:
    records = _records(logs["hosp_b"])
    run, witness = records[_line(logs["hosp_b"], "run", 1) - 1 :][:2]
    assert witness["event"] == "witness" and witness["session"] == run["session"]
    assert sorted(witness["statements"]) == ["hosp_a", "hosp_c"]
    statement = json.loads(witness["statements"]["hosp_a"]["statement"])
    hosp_a = _records(logs["hosp_a"])[statement["seq"]]
    assert statement == {
        "session": run["session"],
        "request": run["request"],
        "party": "hosp_a",
        "seq": hosp_a["seq"],
        "hash": hosp_a["hash"],
    }
    assert hosp_a["event"] == "run" and hosp_a["session"] == run["session"]


# what the single-log check finds ---------------------------------------------------------------
def test_an_edited_record_is_named_by_its_line(
    federation: LoopbackFederation, logs: dict[str, Path]
) -> None:
    path, records = logs["hosp_b"], _records(logs["hosp_b"])
    line = _line(path, "run", 1)
    _edit_second_run(records[line - 1])
    _write(path, records)
    with pytest.raises(AuditError, match=rf"hosp_b.jsonl:{line}: the record was altered"):
        _check_alone(federation, path, "hosp_b")


def test_a_log_rewritten_without_the_partys_key_fails_its_signatures(
    federation: LoopbackFederation, logs: dict[str, Path], tmp_path: Path
) -> None:
    """The issue's attack: edit, recompute every hash. Signing needs hosp_b's key."""
    path, records = logs["hosp_b"], _records(logs["hosp_b"])
    _edit_second_run(records[_line(path, "run", 1) - 1])
    stranger = issue(create_ca(tmp_path / "other"), "hosp_b")
    _resign(path, records, stranger.key)
    with pytest.raises(AuditError, match=r"hosp_b.jsonl:1: the signature does not match"):
        _check_alone(federation, path, "hosp_b")


def test_a_deleted_record_breaks_the_chain_at_its_line(
    federation: LoopbackFederation, logs: dict[str, Path]
) -> None:
    path, records = logs["hosp_c"], _records(logs["hosp_c"])
    line = _line(path, "end", 0)
    _write(path, records[: line - 1] + records[line:])
    with pytest.raises(AuditError, match=rf"hosp_c.jsonl:{line}: the chain breaks"):
        _check_alone(federation, path, "hosp_c")


def test_two_reordered_records_break_the_chain(
    federation: LoopbackFederation, logs: dict[str, Path]
) -> None:
    path, records = logs["hosp_a"], _records(logs["hosp_a"])
    line = _line(path, "run", 1)
    records[line - 1], records[line] = records[line], records[line - 1]
    _write(path, records)
    with pytest.raises(AuditError, match=rf"hosp_a.jsonl:{line}: the chain breaks"):
        _check_alone(federation, path, "hosp_a")


# what only the witnesses find ------------------------------------------------------------------
def test_a_truncated_log_is_found_by_the_peers_statements(
    federation: LoopbackFederation, logs: dict[str, Path]
) -> None:
    """Dropping the last session (run, witness, end, stop) leaves a valid prefix: alone it
    verifies; hosp_a and hosp_b hold hosp_c's signed statement of the dropped run."""
    path, records = logs["hosp_c"], _records(logs["hosp_c"])
    line = _line(path, "run", 2)
    _write(path, records[: line - 1])
    assert _check_alone(federation, path, "hosp_c") == line - 1
    with pytest.raises(
        AuditError,
        match=rf"hosp_c.jsonl ends at line {line - 1}, but hosp_c signed its record {line - 1} "
        rf"\(line {line}\), as hosp_a's witness at .*hosp_a.jsonl:{line + 1} shows: hosp_c's "
        "log was truncated",
    ):
        _check_together(federation, logs)


@pytest.mark.parametrize("rewrite", ["edit", "delete"])
def test_an_operator_who_rewrites_and_resigns_the_log_is_named_by_the_witnesses(
    federation: LoopbackFederation, logs: dict[str, Path], rewrite: str
) -> None:
    """hosp_a's operator edits (or drops) the describe's run record and re-signs the whole log
    with hosp_a's own key: every signature is valid, but hosp_b holds what hosp_a signed."""
    path, records = logs["hosp_a"], _records(logs["hosp_a"])
    line = _line(path, "run", 1)
    if rewrite == "edit":
        _edit_second_run(records[line - 1])
    else:
        del records[line - 1]
    _resign(path, records, _pki(federation) / "hosp_a.key", keep=line - 1)
    assert _check_alone(federation, path, "hosp_a") == len(records)
    with pytest.raises(
        AuditError,
        match=rf"hosp_a.jsonl:{line}: not the record hosp_a signed, as hosp_b's witness at "
        rf".*hosp_b.jsonl:{line + 1} shows: hosp_a's log was rewritten \(a fork\)",
    ):
        _check_together(federation, logs)
    logs_and_pki = [*map(str, logs.values()), "--certs", str(_pki(federation))]
    assert main(["audit", "verify", *logs_and_pki]) == 1


def test_a_forged_statement_in_a_witness_record_fails_the_signers_signature(
    federation: LoopbackFederation, logs: dict[str, Path]
) -> None:
    """hosp_a's operator makes hosp_b's statement vouch for another record of hosp_b's."""
    path, records = logs["hosp_a"], _records(logs["hosp_a"])
    line = _line(path, "witness", 0)
    entry = records[line - 1]["statements"]["hosp_b"]
    entry["statement"] = entry["statement"].replace('"seq":1,', '"seq":2,')
    _resign(path, records, _pki(federation) / "hosp_a.key", keep=line - 1)
    with pytest.raises(
        AuditError, match=rf"hosp_a.jsonl:{line}: hosp_b's statement does not carry hosp_b's"
    ):
        _check_together(federation, logs)


def test_a_statement_for_a_session_the_signer_left_out_of_its_log_is_named(
    federation: LoopbackFederation, logs: dict[str, Path]
) -> None:
    """A modified hosp_a daemon that kept the last session out of its log signs, for it, a
    head it has: its first count's run record. The record is hosp_a's, but not this session's
    run. (The last session: hosp_b's witness record of it is in no later statement.)"""
    path, records = logs["hosp_b"], _records(logs["hosp_b"])
    line = _line(path, "witness", 2)
    count = _records(logs["hosp_a"])[_line(logs["hosp_a"], "run", 0) - 1]
    entry = records[line - 1]["statements"]["hosp_a"]
    signed = json.loads(entry["statement"])
    text = statement(signed["session"], signed["request"], "hosp_a", Head(1, count["hash"]))
    key = load_key(_pki(federation) / "hosp_a.key")
    entry |= {"statement": text.decode(), "sig": key.sign(text, ec.ECDSA(hashes.SHA256())).hex()}
    _resign(path, records, _pki(federation) / "hosp_b.key", keep=line - 1)
    with pytest.raises(
        AuditError,
        match=rf"hosp_a.jsonl:2: hosp_a signed this record as its run of session "
        rf"{signed['session']}, as hosp_b's witness at .*hosp_b.jsonl:{line} shows, but it is "
        "not: the session is missing",
    ):
        _check_together(federation, logs)


def test_a_statement_signed_for_another_party_is_not_the_signers(
    federation: LoopbackFederation, logs: dict[str, Path]
) -> None:
    """hosp_a signs a statement in hosp_c's name: its signature is hosp_a's, its content not."""
    path, records = logs["hosp_b"], _records(logs["hosp_b"])
    line = _line(path, "witness", 2)
    entry = records[line - 1]["statements"]["hosp_a"]
    text = entry["statement"].replace('"party":"hosp_a"', '"party":"hosp_c"').encode()
    key = load_key(_pki(federation) / "hosp_a.key")
    entry |= {"statement": text.decode(), "sig": key.sign(text, ec.ECDSA(hashes.SHA256())).hex()}
    _resign(path, records, _pki(federation) / "hosp_b.key", keep=line - 1)
    with pytest.raises(
        AuditError, match=rf"hosp_b.jsonl:{line}: what hosp_a signed is not its statement"
    ):
        _check_together(federation, logs)


def test_certificates_must_come_from_the_federations_ca(
    federation: LoopbackFederation, tmp_path: Path
) -> None:
    folder = tmp_path / "pki"
    shutil.copytree(_pki(federation), folder)
    stranger = issue(create_ca(tmp_path / "other"), "hosp_b")
    shutil.copy(stranger.cert, folder / "hosp_b.pem")
    with pytest.raises(AuditError, match=r"hosp_b.pem: not issued by"):
        load_certificates(folder, PARTIES)


# the daemon ------------------------------------------------------------------------------------
def test_large_arguments_are_recorded_by_digest() -> None:
    small, large = '{"where":"age >= 1"}', json.dumps({"where": "x" * MAX_ARGUMENTS})
    assert arguments(small) == {"arguments": small}
    recorded = arguments(large)
    assert list(recorded) == ["arguments_sha256"] and len(recorded["arguments_sha256"]) == 64


def test_a_daemon_refuses_to_start_on_a_log_that_fails_verification(
    federation: LoopbackFederation,
) -> None:
    path = _live(federation, "hosp_a")
    records = _records(path)
    _edit_second_run(records[_line(path, "run", 1) - 1])
    _write(path, records)
    federation.start("hosp_a")
    deadline = time.monotonic() + 60
    while federation.processes["hosp_a"].poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert federation.processes["hosp_a"].poll() == 1
    assert "the record was altered" in federation.log("hosp_a")
