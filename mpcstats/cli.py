"""The ``mpcstats`` command line."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mpcstats", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a short secure study on synthetic data")
    demo.add_argument("--hospitals", type=int, default=3, help="number of hospitals (3-9)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the synthetic data")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from mpcstats._demo import run_demo

        return run_demo(args.hospitals, args.seed)
    return 2


if __name__ == "__main__":
    sys.exit(main())
