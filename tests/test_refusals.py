"""Bad input gets a specific error and nothing is computed or opened."""

from __future__ import annotations

import numpy as np
import pytest

from mpcstats import (
    ConfigurationError,
    HeadroomError,
    InputRangeError,
    LocalSimulator,
    PartyUnavailableError,
)
from mpcstats import protocols as P
from mpcstats.protocols.session import Session
from tests.conftest import owned
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
