"""A federation of real party daemons on loopback, for the demo and the tests.

:class:`LoopbackFederation` writes a throwaway PKI, each hospital's table as CSV, the schema and
one configuration per party into a folder, starts ``mpcstats party serve`` for each party as its
own process, and stops them with SIGTERM. Everything it writes stays in that folder.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mpcstats._errors import ConfigurationError
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Schema
from mpcstats.transport.pki import Identity, create_ca, issue

__all__ = ["ANALYST", "LoopbackFederation", "free_ports"]

ANALYST = "analyst"
DATASET = "cohort"
# Parties sharing one machine must not each keep a BLAS thread per core: OpenBLAS's idle
# threads spin, and on two cores they tripled the CPU a describe of 3 x 1e6 rows cost each
# daemon (13 -> 45 ms) and raised a logit's by half. The caller's environment still wins.
_ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def free_ports(count: int) -> list[int]:
    """Ports free on loopback right now (the daemons bind them moments later)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class LoopbackFederation:
    """Hospitals (and optionally a helper) as daemon processes on loopback: each listens on
    127.0.0.1 unless ``hosts`` gives it another loopback address (any of 127.0.0.0/8)."""

    def __init__(
        self,
        folder: Path,
        tables: Mapping[str, pd.DataFrame],
        schema: Schema,
        *,
        helpers: int = 0,
        policies: Mapping[str, Policy] | None = None,
        schemas: Mapping[str, Schema] | None = None,
        timeout: float = 10.0,
        staged: bool = False,
        shutdown_grace: float = 5.0,
        file_format: str = "csv",
        hosts: Mapping[str, str] | None = None,
        analysts: Sequence[str] = (ANALYST,),
    ) -> None:
        if file_format not in {"csv", "parquet"}:
            raise ValueError(f"file_format is 'csv' or 'parquet', not {file_format!r}")
        self.folder, self.schema, self.timeout = folder, schema, timeout
        self.shutdown_grace, self.file_format = shutdown_grace, file_format
        self.staged = staged  # hospitals stage their CSV into SQLite, as for large files
        self.hospitals = list(tables)
        self.names = self.hospitals + [
            f"helper{i}" if helpers > 1 else "helper" for i in range(helpers)
        ]
        if len(self.names) < 3:
            raise ConfigurationError("a federation has at least three parties (add a helper)")
        strangers = set(hosts or {}) - set(self.names)
        if strangers or not analysts:
            raise ConfigurationError(
                f"hosts name parties only (not {sorted(strangers)}), and analysts at least one"
            )
        self.hosts = {name: (hosts or {}).get(name, "127.0.0.1") for name in self.names}
        self.analysts = list(analysts)
        self.ports = free_ports(len(self.names))
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._write_pki()
        for name in self.names:
            table = tables.get(name)
            self._write_party(name, table, (policies or {}).get(name), (schemas or {}).get(name))

    @property
    def addresses(self) -> dict[str, str]:
        return {
            name: f"{self.hosts[name]}:{port}"
            for name, port in zip(self.names, self.ports, strict=True)
        }

    @property
    def analyst(self) -> Identity:
        """The first analyst's certificate."""
        return self._analysts[0]

    def connect_kwargs(self, analyst_index: int = 0) -> dict[str, Any]:
        """The arguments of :func:`mpcstats.connect` for one of this federation's analysts."""
        identity = self._analysts[analyst_index]
        return {
            "parties": self.addresses,
            "ca": identity.ca,
            "cert": identity.cert,
            "key": identity.key,
        }

    # files ------------------------------------------------------------------------------------
    def _write_pki(self) -> None:
        pki = self.folder / "pki"
        ca = create_ca(pki)
        for name in self.names:
            issue(ca, name)
        self._analysts = [issue(ca, name) for name in self.analysts]

    def config_path(self, name: str) -> Path:
        return self.folder / name / "party.toml"

    def _write_party(
        self, name: str, table: pd.DataFrame | None, policy: Policy | None, schema: Schema | None
    ) -> None:
        home = self.folder / name
        home.mkdir(parents=True, exist_ok=True)
        policy = policy or Policy()
        lines = [
            "[party]",
            f'name = "{name}"',
            f'listen = "{self.addresses[name]}"',
            f"timeout = {self.timeout}",
            f"shutdown_grace = {self.shutdown_grace}",
            "",
            "[federation]",
            f"parties = {_toml_list(self.names)}",
            f"addresses = {_toml_list(list(self.addresses.values()))}",
            f"analysts = {_toml_list(self.analysts)}",
            "",
            "[tls]",
            'ca = "../pki/ca.pem"',
            f'cert = "../pki/{name}.pem"',
            f'key = "../pki/{name}.key"',
            "",
            "[policy]",
            f"k = {policy.k}",
            f"allow_extremes = {str(policy.allow_extremes).lower()}",
            f"max_parameter_fraction = {policy.max_parameter_fraction}",
            f"max_quantile_levels = {policy.max_quantile_levels}",
            "",
            "[audit]",
            'path = "audit.jsonl"',
        ]
        if table is not None:
            data = home / f"data.{self.file_format}"
            if self.file_format == "csv":
                table.to_csv(data, index=False)
            else:
                table.to_parquet(data, index=False)
            (home / "schema.json").write_text((schema or self.schema).to_json())
            lines += [
                "",
                f"[datasets.{DATASET}]",
                f'format = "{self.file_format}"',
                f'path = "{data.name}"',
                'schema = "schema.json"',
                *(['stage = "data.sqlite"'] if self.staged else []),
            ]
        self.config_path(name).write_text("\n".join(lines) + "\n")

    # processes --------------------------------------------------------------------------------
    def start(self, name: str | None = None) -> None:
        """Start every party's daemon (or one, e.g. after :meth:`kill`)."""
        for party in [name] if name else self.names:
            log = (self.folder / party / "daemon.log").open("ab")
            self.processes[party] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mpcstats",
                    "party",
                    "serve",
                    "--config",
                    str(self.config_path(party)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**_ONE_BLAS_THREAD, **os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def kill(self, name: str) -> None:
        """Kill a party's daemon abruptly (SIGKILL), as a crash would."""
        process = self.processes[name]
        process.kill()
        process.wait()

    def stop(self, timeout: float = 15.0) -> dict[str, int]:
        """SIGTERM every daemon and wait; returns each exit code (killed if it hangs)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        deadline = time.monotonic() + timeout
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        return codes

    def log(self, name: str) -> str:
        return (self.folder / name / "daemon.log").read_text(errors="replace")

    def __enter__(self) -> LoopbackFederation:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"
