"""The ``mpcstats`` command line.

- ``mpcstats demo``: a short study over three hospital daemons on loopback (``--simulate``: in
  this process instead);
- ``mpcstats party serve --config party.toml``: run a party daemon until SIGTERM;
- ``mpcstats certs --out pki --party hosp_a ... --analyst dr_jones``: a development PKI;
- ``mpcstats audit verify audit.jsonl --cert hosp_a.pem``: check an audit log's chain and
  signatures; ``mpcstats audit verify a.jsonl b.jsonl c.jsonl --certs pki``: check a
  federation's logs, each on its own and against the statements the others witnessed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from mpcstats._errors import ConfigurationError, MpcStatsError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mpcstats", description="Joint statistics by MPC.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run a short secure study on synthetic data")
    demo.add_argument("--hospitals", type=int, default=3, help="number of hospitals (3-9)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the synthetic data")
    demo.add_argument("--simulate", action="store_true", help="simulate the parties in-process")

    party = commands.add_parser("party", help="run a party daemon").add_subparsers(
        dest="action", required=True
    )
    serve = party.add_parser("serve", help="serve until SIGTERM")
    serve.add_argument("--config", required=True, type=Path, help="the party's TOML file")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])

    certs = commands.add_parser("certs", help="create a development PKI (CA and certificates)")
    certs.add_argument("--out", required=True, type=Path, help="folder of the PKI")
    certs.add_argument("--party", action="append", default=[], help="a party name (repeat)")
    certs.add_argument("--analyst", action="append", default=[], help="an analyst name (repeat)")

    audit = commands.add_parser("audit", help="audit logs").add_subparsers(
        dest="action", required=True
    )
    verify = audit.add_parser(
        "verify", help="check audit logs: chains, signatures and the parties' witness statements"
    )
    verify.add_argument("paths", type=Path, nargs="+", metavar="LOG")
    certificates = verify.add_mutually_exclusive_group(required=True)
    certificates.add_argument("--cert", type=Path, help="the party's certificate (one log)")
    certificates.add_argument(
        "--certs",
        type=Path,
        help="a folder with ca.pem and PARTY.pem of every party whose log is given; the logs "
        "are checked against each other's witness statements",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except MpcStatsError as error:
        print(f"mpcstats: {error}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from mpcstats.testing.demo import run_demo

        return run_demo(args.hospitals, args.seed, simulate=args.simulate)
    if args.command == "party":
        from mpcstats.party.config import load_config
        from mpcstats.party.daemon import configure_logging, serve

        configure_logging(args.log_level)
        config = load_config(args.config)
        try:
            asyncio.run(serve(config))
        except ConfigurationError as error:  # a dataset the daemon could not load or check
            raise type(error)(f"{args.config}: {error}") from None
        return 0
    if args.command == "certs":
        return _certs(args.out, args.party, args.analyst)
    return _verify(args.paths, args.cert, args.certs)


def _verify(paths: list[Path], certificate: Path | None, folder: Path | None) -> int:
    from mpcstats.party import audit

    if certificate is not None:
        if len(paths) != 1:
            print("mpcstats audit verify: --cert checks one log; use --certs", file=sys.stderr)
            return 2
        last = audit.verify(paths[0], audit.load_certificate(certificate))
        print(f"{paths[0]}: {last.seq + 1} records, chain and signatures intact")
        return 0
    assert folder is not None  # argparse requires one of the two
    certificates = audit.load_certificates(folder, [audit.owner(path) for path in paths])
    checked = audit.verify_federation(paths, certificates)
    for path, (party, statements) in zip(paths, checked.items(), strict=True):
        print(f"{path}: {party}'s log intact; its {statements} witness statements match")
    return 0


def _certs(folder: Path, parties: list[str], analysts: list[str]) -> int:
    from mpcstats.transport.pki import Identity, create_ca, issue

    if not parties and not analysts:
        print("mpcstats certs: name at least one --party or --analyst", file=sys.stderr)
        return 2
    ca_files = (folder / "ca.pem", folder / "ca.key")
    if all(f.exists() for f in ca_files):
        ca = Identity("ca", ca_files[0], ca_files[0], ca_files[1])
    else:
        ca = create_ca(folder)
        print(f"created the CA {ca.cert} (keep {ca.key} offline in production)")
    for name in [*parties, *analysts]:
        identity = issue(ca, name)
        print(f"issued {identity.cert} and {identity.key} for {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
