"""Bad input gets a specific error and nothing is computed or opened."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mpcstats import (
    ConfigurationError,
    FilterError,
    HeadroomError,
    InputRangeError,
    LocalSimulator,
    MpcStatsError,
    PartyUnavailableError,
)
from mpcstats import protocols as P
from mpcstats.protocols.session import Session
from mpcstats.stats.analysis import ANALYSES, from_request
from mpcstats.stats.filters import parse
from mpcstats.stats.formula import parse_formula
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Column, Schema
from mpcstats.stats.secure import suppression_comparisons
from tests.conftest import SMOKERS, owned, smokers
from tests.parties import run


def test_input_outside_its_declared_range_names_the_party_not_the_value(three: int) -> None:
    async def program(s: Session) -> None:
        await P.input(s, owned(s, 1, np.array([5, 70000, 3])), owner=1, bits=16)

    with pytest.raises(InputRangeError) as caught:
        run(three, program)
    message = str(caught.value)
    assert "party 1" in message and "position 1" in message and "70000" not in message


def test_a_product_beyond_the_field_headroom_is_refused_before_communicating() -> None:
    seen: dict[str, int] = {}

    async def program(s: Session) -> None:
        x = await P.input(s, owned(s, 0, np.array([1])), owner=0, bits=60)
        seen["rounds"] = s.stats.rounds
        try:
            await P.mul(s, x, x)
        finally:
            seen["after"] = s.stats.rounds

    with pytest.raises(HeadroomError, match=r"modulus_bits >= \d+"):
        run(3, program)  # reads what the program saw: in this process
    assert seen["after"] == seen["rounds"]


def test_comparison_beyond_the_headroom_is_refused(three: int) -> None:
    async def program(s: Session) -> None:
        x = await P.input(s, owned(s, 0, np.array([1])), owner=0, bits=82)
        await P.ltz(s, x)

    with pytest.raises(HeadroomError, match="comparison"):
        run(three, program)


def test_the_same_computation_fits_a_larger_declared_field(three: int) -> None:
    async def program(s: Session) -> np.ndarray:
        x = await P.input(s, owned(s, 0, np.array([2**59])), owner=0, bits=60)
        return await P.open(s, await P.mul(s, x, x))

    assert int(run(three, program, modulus_bits=192).outputs[0][0]) == 2**118


@pytest.mark.parametrize(
    ("options", "match"),
    [({"n": 2}, "3 to 16"), ({"n": 5, "threshold": 3}, "honest majority"), ({"n": 17}, "3 to 16")],
)
def test_invalid_session_parameters(options: dict[str, int], match: str) -> None:
    async def program(s: Session) -> None:
        return None

    with pytest.raises(ConfigurationError, match=match):
        LocalSimulator(**options).run(program)


def test_a_failing_party_stops_the_others_with_its_own_error() -> None:
    async def program(s: Session) -> None:
        x = await P.input(s, owned(s, 0, np.arange(4)), owner=0, bits=8)
        if s.party == 2:
            raise RuntimeError("hospital 2 lost its data")
        await P.mul(s, x, x)

    with pytest.raises(RuntimeError, match="hospital 2"):
        run(3, program, timeout=30)


def test_a_silent_party_is_named_after_the_timeout() -> None:
    async def program(s: Session) -> None:
        if s.party == 1:
            import asyncio

            await asyncio.sleep(5)
            return
        x = await P.input(s, owned(s, 0, np.arange(4)), owner=0, bits=8)
        await P.mul(s, x, x)

    with pytest.raises(PartyUnavailableError, match="party 1"):
        run(3, program, timeout=0.5)


def test_a_simulator_needs_named_datasets_or_n() -> None:
    with pytest.raises(ConfigurationError, match=r"LocalSimulator\(n=\.\.\.\)"):
        LocalSimulator(3)  # type: ignore[arg-type]


# arguments of analyses ------------------------------------------------------------------------
JUNK = [None, 0, -1, 2.5, float("nan"), 1e308, 10**30, True, "", "age", "sex", "x", "age >"]
JUNK += ["age > 3", "cancer ~ age", "~", "C(sex)", [], ["age"], ["age", "sex"], [[1]], {}]


def test_junk_arguments_to_every_analysis_are_configuration_errors() -> None:
    """A party rebuilds each request's analysis and plans it: whatever the arguments, planning
    yields a secure program or a ConfigurationError that says why, never an internal error
    (2000 seeded random requests per analysis; the client runs the same checks first)."""
    rng = random.Random(5)
    outcomes: Counter[tuple[str, str]] = Counter()
    unexpected = []
    for name, kind in sorted(ANALYSES.items()):
        fields = dataclasses.fields(kind)  # type: ignore[arg-type]
        for _ in range(2000):
            chosen = {f.name: rng.choice(JUNK) for f in fields if rng.random() < 0.6}
            arguments = json.dumps(chosen)
            try:
                from_request(name, arguments).plan(SMOKERS, Policy())
                outcomes[name, "program"] += 1
            except MpcStatsError:
                outcomes[name, "refused"] += 1
            except Exception as error:
                unexpected.append(f"{name}({arguments}): {error!r}")
    assert not unexpected, unexpected[:5]
    assert all(outcomes[name, "refused"] for name in ANALYSES)
    planned = {name for name in ANALYSES if outcomes[name, "program"]}
    assert sum(outcomes[name, "program"] for name in ANALYSES) > 500 and len(planned) >= 9


def test_an_error_inside_a_secure_program_is_not_blamed_on_the_arguments() -> None:
    class Failing(LocalSimulator):
        def _execute(self, analysis: Any, plan: Any) -> Any:
            raise ValueError("a bug in a protocol")

    study = Failing({"a": _frame(1), "b": _frame(2), "c": _frame(3)})
    with pytest.raises(ValueError, match="a bug in a protocol") as caught:
        study.count()
    assert not isinstance(caught.value, MpcStatsError)
    with pytest.raises(ConfigurationError, match=r"histogram: invalid arguments \(ValueError"):
        study.histogram("age", bins="ten")


def _frame(seed: int) -> pd.DataFrame:
    return smokers(np.random.default_rng(seed), 20)


def test_tables_too_large_to_suppress_and_other_bad_shapes_are_refused() -> None:
    """A crosstab of two 111-level columns would take 4 million secure comparisons (minutes
    at every party; a million bins would exhaust their memory): refused, as are bins that are
    not a count or finite increasing edges, and a Newton tolerance of NaN."""
    assert suppression_comparisons((20, 5)) == 100 + 3 * (20 * 10 + 5 * 190)
    assert suppression_comparisons((1001,)) == 1001 + 1001 * 1000 // 2
    frames = {name: _frame(seed) for seed, name in enumerate("abc")}
    study = LocalSimulator(frames, schema=SMOKERS)  # age: 0 to 110
    with pytest.raises(ConfigurationError, match=r"needs 4,078,251 secure comparisons"):
        study.crosstab("age", "age")
    for bins in (10**6, 10**12):  # refused before a bin edge is made
        with pytest.raises(ConfigurationError, match=rf"a table of {bins} cells needs"):
            study.histogram("age", bins=bins)
    for bins in (0, -3, [0.0, float("nan"), 100.0], [50, 10, 100], [5], [[1, 2]]):
        with pytest.raises(ConfigurationError, match="histogram: bins is"):
            study.histogram("age", bins=bins)
    with pytest.raises(ConfigurationError, match=r"named by one string, not \['sex', 'smoker'\]"):
        study.count(by=["sex", "smoker"])
    with pytest.raises(ConfigurationError, match=r"tol lies in \(0, 1\), not nan"):
        study.logit("cancer ~ age", tol=float("nan"))


def test_filters_and_formulas_the_parties_could_choke_on_are_refused() -> None:
    """The parties parse and evaluate what an analyst sends recursively, and expand a formula's
    crossed terms: deep nesting (a RecursionError at 500 levels), endless or non-string text,
    30 crossed factors (a billion terms) and 10^30 design columns are FilterErrors."""
    hostile = {
        "(" * 500 + "age > 1" + ")" * 500: "nests parentheses and nots at most 32 deep",
        "not " * 40 + "age > 1": "at most 32 deep",
        " or ".join(["age > 1"] * 300): "joins at most 256 tests",
        "age > 1 or " * 1000 + "age > 2": "at most 10000 characters",
    }
    for text, message in hostile.items():
        with pytest.raises(FilterError, match=message):
            parse(text, SMOKERS)
    assert parse("(" * 32 + "age > 1" + ")" * 32, SMOKERS) is not None
    with pytest.raises(FilterError, match="a filter is a string"):
        parse(5, SMOKERS)  # type: ignore[arg-type]
    with pytest.raises(FilterError, match="crosses at most 6 factors with '\\*', not 30"):
        parse_formula("cancer ~ " + " * ".join(["age"] * 30), SMOKERS)
    wide = Schema(
        {
            "y": Column("y", "bool"),
            **{f"c{i}": Column(f"c{i}", "category", codes=tuple("abcdefghij")) for i in range(30)},
        }
    )
    with pytest.raises(FilterError, match=r"has up to 1,0[0,]+ design columns, more than the 1000"):
        parse_formula("y ~ " + ":".join(f"C(c{i})" for i in range(30)), wide)
