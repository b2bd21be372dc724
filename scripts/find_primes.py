"""Write mpcstats/core/_primes.py: the largest prime below 2^bits for every multiple of 64 bits
from 128 to 8192, found by the same descending search as mpcstats.core.field.search_prime.

Usage (not straight into the table, which mpcstats imports while the search runs):
    .venv/bin/python scripts/find_primes.py > primes.py && mv primes.py mpcstats/core/_primes.py
About an hour on one core, most of it above 6,000 bits; tests/test_core.py checks the table.
"""

from __future__ import annotations

import sys
import time

from mpcstats.core.field import search_prime

LOW, HIGH, STEP = 128, 8192, 64

HEADER = '''\
"""The largest prime below 2^bits for every multiple of 64 bits from 128 to 8192: the offset c
of each prime 2^bits - c. Written by scripts/find_primes.py, which ran the descending search of
:func:`mpcstats.core.field.search_prime` (about an hour in all). Searching at run time took up to
a minute per process at the widths of the d = 50 models, in every party's daemon.

tests/test_core.py re-derives the entries up to 1,024 bits and checks that every entry is prime.
"""

PRIME_OFFSETS: dict[int, int] = {
'''


def main() -> None:
    sys.stdout.write(HEADER)
    for bits in range(LOW, HIGH + 1, STEP):
        started = time.perf_counter()
        offset = (1 << bits) - search_prime(bits)
        print(f"    {bits}: {offset},", flush=True)
        print(f"{bits} bits: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    sys.stdout.write("}\n")


if __name__ == "__main__":
    main()
