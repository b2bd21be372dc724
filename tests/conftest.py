"""Shared helpers: run a secure program on n simulated parties and return party 0's output."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mpcstats.protocols.session import Session
from mpcstats.simulator import LocalSimulator, RunResult

PARTY_COUNTS = [3, 5, 7]


def run(n: int, program: Callable[[Session], Awaitable[Any]], **options: Any) -> RunResult:
    return LocalSimulator(n=n, **options).run(program)  # type: ignore[arg-type]


def owned(session: Session, owner: int, values: Any) -> Any:
    """The values at their owner, None elsewhere (how inputs are given)."""
    return values if session.party == owner else None


@pytest.fixture(params=PARTY_COUNTS, ids=lambda n: f"n{n}")
def n(request: pytest.FixtureRequest) -> int:
    return int(request.param)
