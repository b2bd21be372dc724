"""Query-set overlap control, tested as the attacks it stops: differencing two allowed queries
(N vs N - 1) recovers a patient's values; every pair is refused, through the simulator and the
daemons, while honest analyses of overlapping cohorts still run."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mpcstats
import mpcstats.stats.results
from mpcstats import Column, OverlapError, Schema
from mpcstats.testing.loopback import LoopbackFederation
from tests.conftest import StudyFactory

SCHEMA = Schema(
    {
        "age": Column("age", "int", 0, 110),
        "sex": Column("sex", "category", codes=("F", "M")),
        "bmi": Column("bmi", "float", 10, 80, precision=0.1),
        "los": Column("los", "int", 0, 365),
        "hiv": Column("hiv", "bool"),
    }
)
# the target: the only 97-year-old woman
TARGET = "age == 97 and sex == 'F'"
ALL_BUT_TARGET = f"age >= 40 and not ({TARGET})"


def _hospitals(seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def hospital(n: int) -> pd.DataFrame:
        age = rng.integers(40, 90, n)
        return pd.DataFrame(
            {
                "age": age,
                "sex": rng.choice(["F", "M"], n),
                "bmi": np.round(rng.normal(27, 4, n), 1),
                "los": rng.integers(1, 20, n),
                "hiv": rng.integers(0, 2, n),
            }
        )

    frames = {"hosp_a": hospital(120), "hosp_b": hospital(90), "hosp_c": hospital(150)}
    frames["hosp_b"].loc[7, ["age", "sex", "bmi", "los", "hiv"]] = [97, "F", 41.3, 12, 1]
    return frames


# (first, second): the second differs from the first by the target alone
DIFFERENCING = {
    "describe": (
        lambda s: s.describe("bmi", where="age >= 40"),
        lambda s: s.describe("bmi", where=ALL_BUT_TARGET),
    ),
    "count": (
        lambda s: s.count(where="age >= 40", by="sex"),
        lambda s: s.count(where=ALL_BUT_TARGET, by="sex"),
    ),
    "ols": (
        lambda s: s.ols("los ~ age + bmi + hiv", where="age >= 40"),
        lambda s: s.ols("los ~ age + bmi + hiv", where=ALL_BUT_TARGET),
    ),
    "ttest": (
        lambda s: s.ttest("bmi", by="sex", where="age >= 40"),
        lambda s: s.ttest("bmi", by="sex", where=ALL_BUT_TARGET),
    ),
    "corr": (
        lambda s: s.corr(["bmi", "los"], where="age >= 40"),
        lambda s: s.corr(["bmi", "los"], where=ALL_BUT_TARGET),
    ),
    "threshold": (  # a binary search for the maximum BMI, at its last step
        lambda s: s.count(where="bmi < 41.3"),
        lambda s: s.count(where="bmi <= 41.3"),
    ),
}


@pytest.mark.parametrize("attack", sorted(DIFFERENCING))
def test_two_queries_that_differ_by_one_patient_are_not_both_answered(
    make_study: StudyFactory, attack: str
) -> None:
    seed = 100 + sorted(DIFFERENCING).index(attack)  # its own daemons: records start empty
    study = make_study(_hospitals(seed), schema=SCHEMA)
    first, second = DIFFERENCING[attack]
    first(study)
    with pytest.raises(OverlapError, match="fewer than k = 5") as refused:
        second(study)
    assert "earlier: {" in str(refused.value)  # names the earlier cohort, by its definition


def test_honest_analyses_of_overlapping_cohorts_run(make_study: StudyFactory) -> None:
    """Repeating a cohort, subgroups that differ by many records, other columns of the same
    records: none is refused."""
    frames = _hospitals(200)
    pooled = pd.concat(frames.values())
    study = make_study(frames, schema=SCHEMA)
    everyone = study.describe("bmi", where="age >= 40")
    assert everyone.n == len(pooled)
    assert study.describe("bmi", where="age >= 40").n == everyone.n  # the same cohort again
    women = study.describe("bmi", where="age >= 40 and sex == 'F'")
    assert women.n == (pooled.sex == "F").sum()
    assert study.describe("los", where="age >= 40").n == everyone.n
    fit = study.ols("los ~ age + bmi", where="age >= 40")
    assert fit.nobs == len(pooled)
    assert study.count(where="age >= 60", by="sex").counts.sum() == (pooled.age >= 60).sum()


def test_the_record_survives_a_daemon_restart(tmp_path: Path) -> None:
    frames = _hospitals(300)
    daemons = LoopbackFederation(tmp_path, frames, SCHEMA)
    with daemons, mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study:
        study.describe("bmi", where="age >= 40")
    fresh = LoopbackFederation(tmp_path / "again", frames, SCHEMA)
    with fresh, mpcstats.connect(**fresh.connect_kwargs(), progress=False) as study:
        study.describe("bmi", where=ALL_BUT_TARGET)  # new daemons, new records: runs
    # the first daemons again, from their folders
    with (
        daemons,
        mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study,
        pytest.raises(OverlapError, match="fewer than k"),
    ):
        study.describe("bmi", where=ALL_BUT_TARGET)
    for party in daemons.names:
        records = (tmp_path / party / "audit.jsonl").read_text()
        assert '"outcome": "OverlapError"' in records  # every party audited the refusal


def test_the_parties_learn_only_the_verdict() -> None:
    """What the check opens to the parties: per recorded set, a gate that is 0 (refused) or a
    uniform field element; here every gate is non-zero and differs between two runs."""
    opened = []
    for _ in range(2):
        study = mpcstats.LocalSimulator(_hospitals(400), schema=SCHEMA, record_openings=True)
        study.describe("bmi", where="age >= 40")
        study.describe("bmi", where="age >= 40 and sex == 'F'")
        assert study.last_run is not None
        checks = [o for o in study.last_run.stats[0].openings if o.label == "cohort overlap"]
        assert [o.count for o in checks] == [2]  # each new set against the recorded one of its kind
        assert checks[0].values is not None and all(v != 0 for v in checks[0].values.ravel())
        opened.append(checks[0].values.ravel().tolist())
    assert opened[0] != opened[1]


def test_a_client_that_runs_two_analyses_at_once_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A modified client sends both halves of a differencing pair at once, so that neither
    check would see the other's sets: a party refuses an analyst's second analysis while the
    first runs, and the pair is never answered together."""
    frames = _hospitals(500)
    pooled = pd.concat(frames.values())
    with (
        LoopbackFederation(tmp_path, frames, SCHEMA) as daemons,
        mpcstats.connect(**daemons.connect_kwargs(), progress=False) as study,
    ):
        monkeypatch.setattr(study, "_one_at_a_time", contextlib.nullcontext())

        async def both() -> list[object]:
            return await asyncio.gather(
                study.aio.describe("bmi", where="age >= 40"),
                study.aio.describe("bmi", where=ALL_BUT_TARGET),
                return_exceptions=True,
            )

        first, second = asyncio.run(both())
    refused = [r for r in (first, second) if isinstance(r, mpcstats.PolicyError)]
    assert refused and any("already running" in str(r) for r in refused), (first, second)
    answered = [r for r in (first, second) if isinstance(r, mpcstats.stats.results.Result)]
    assert len(answered) <= 1
    for result in answered:
        assert result.n in {len(pooled), len(pooled) - 1}  # type: ignore[attr-defined]
