"""The configuration of a party daemon: one TOML file per hospital (or helper).

::

    [party]
    name = "hosp_a"                 # this party: its certificate's common name
    listen = "0.0.0.0:7001"         # where the daemon serves peers and analysts
    timeout = 30                    # seconds a peer may stay silent within a session
    shutdown_grace = 10             # seconds SIGTERM leaves running sessions to finish
    max_message_mib = 256           # the largest message sent or accepted (same at every party)
    keepalive = 10                  # seconds between pings that check a connection is alive
    keepalive_timeout = 5           # seconds a ping may wait for its answer

    [federation]
    parties = ["hosp_a", "hosp_b", "helper"]                  # every party, in index order
    addresses = ["a.example:7001", "b.example:7001", "h.example:7001"]
    analysts = ["dr_jones"]         # certificate names allowed to run analyses

    [tls]
    ca = "pki/ca.pem"
    cert = "pki/hosp_a.pem"
    key = "pki/hosp_a.key"

    [policy]
    k = 5
    allow_extremes = false
    max_parameter_fraction = 0.33
    max_quantile_levels = 9

    [audit]
    path = "audit/hosp_a.jsonl"

    [datasets.cohort]
    format = "csv"                  # csv | parquet | sql (url and table instead of path)
    path = "data/cohort.csv"
    schema = "schema.json"          # the federation's data dictionary for this dataset
    stage = "data/cohort.sqlite"    # optional: for files larger than memory (see staging)
    key = "patient_id"              # optional (required for sql): a column that identifies a
                                    # record, for the overlap control (default: row position)

Relative paths are relative to the configuration file. A helper party has no datasets.
Every error names the file, the section and the key.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from mpcstats._errors import ConfigurationError
from mpcstats.stats.policy import Policy
from mpcstats.stats.schema import Schema
from mpcstats.transport.grpc_channel import Limits
from mpcstats.transport.pki import Identity

__all__ = ["DatasetConfig", "PartyConfig", "load_config"]

_KEYS = {  # every key a section may hold: a misspelt one is an error, not a silent default
    "party": {
        "name",
        "listen",
        "timeout",
        "shutdown_grace",
        "max_message_mib",
        "keepalive",
        "keepalive_timeout",
    },
    "federation": {"parties", "addresses", "analysts"},
    "tls": {"ca", "cert", "key"},
    "policy": {"k", "allow_extremes", "max_parameter_fraction", "max_quantile_levels"},
    "audit": {"path"},
}
_SECTIONS = {*_KEYS, "datasets"}
_DATASET_KEYS = {  # by format: (required, optional) keys; every dataset also needs a schema
    "csv": (("path",), ("stage", "key")),
    "parquet": (("path",), ("stage", "key")),
    "sql": (("url", "table"), ("key",)),
}
_KINDS = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
}


@dataclass(frozen=True)
class DatasetConfig:
    """A table the party holds and the public schema it declares for it."""

    name: str
    source: dict[str, Any]  # format and location, resolved against the config's folder
    schema: Schema


@dataclass(frozen=True)
class PartyConfig:
    name: str
    listen: str
    parties: list[str]
    addresses: list[str]
    analysts: list[str]
    identity: Identity
    audit_path: Path
    policy: Policy = field(default_factory=Policy)
    datasets: dict[str, DatasetConfig] = field(default_factory=dict)
    timeout: float = 30.0
    shutdown_grace: float = 10.0
    limits: Limits = field(default_factory=Limits)

    @property
    def index(self) -> int:
        return self.parties.index(self.name)

    @property
    def helper(self) -> bool:
        return not self.datasets


def load_config(path: str | Path) -> PartyConfig:
    """Read and check a party's TOML configuration."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{path} is not valid TOML: {error}") from None
    return _Reader(path, data).config()


class _Reader:
    """Typed access to the TOML tables, with errors that name file, section and key."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data, self.base = path, data, path.parent
        unknown = set(data) - _SECTIONS
        if unknown:
            self.fail(f"unknown section(s) {sorted(unknown)}; known: {sorted(_SECTIONS)}")

    def fail(self, message: str) -> NoReturn:
        raise ConfigurationError(f"{self.path}: {message}")

    def section(self, name: str, required: bool = True) -> dict[str, Any]:
        table = self.data.get(name)
        if table is None and not required:
            return {}
        if not isinstance(table, dict):
            self.fail(f"needs a [{name}] section")
        self._known_keys(f"[{name}]", table, _KEYS.get(name))
        return table

    def _known_keys(self, where: str, table: Mapping[str, Any], known: set[str] | None) -> None:
        unknown = sorted(set(table) - known) if known is not None else []
        if unknown:
            self.fail(f"{where} has unknown key(s) {unknown}; it takes {sorted(known or ())}")

    def get(self, section: str, key: str, kind: type, default: Any = ...) -> Any:
        table = self.section(section, required=default is ...)
        if key not in table:
            if default is ...:
                self.fail(f"[{section}] needs {key} = ...")
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(f"[{section}] {key} must be {_KINDS[kind]}, not {value!r}")
        if isinstance(value, float) and not math.isfinite(value):  # TOML allows nan and inf
            self.fail(f"[{section}] {key} must be a finite number, not {value!r}")
        return value

    def names(self, section: str, key: str) -> list[str]:
        values = self.get(section, key, list)
        if not all(isinstance(v, str) and v for v in values):
            self.fail(f"[{section}] {key} must be a list of non-empty strings")
        return list(values)

    def file(self, section: str, key: str) -> Path:
        resolved = self.base / self.get(section, key, str)
        if not resolved.exists():
            self.fail(f"[{section}] {key}: no file at {resolved}")
        return resolved

    def config(self) -> PartyConfig:
        name = self.get("party", "name", str)
        parties = self.names("federation", "parties")
        addresses = self.names("federation", "addresses")
        if name not in parties:
            self.fail(f"party {name!r} is not among [federation] parties {parties}")
        if len(addresses) != len(parties):
            self.fail(f"{len(parties)} parties need {len(parties)} addresses")
        identity = Identity(
            name, self.file("tls", "ca"), self.file("tls", "cert"), self.file("tls", "key")
        )
        return PartyConfig(
            name=name,
            listen=self.get("party", "listen", str),
            parties=parties,
            addresses=addresses,
            analysts=self.names("federation", "analysts"),
            identity=identity,
            audit_path=self.base / self.get("audit", "path", str),
            policy=self.policy(),
            datasets=self.datasets(),
            timeout=self.get("party", "timeout", float, 30.0),
            shutdown_grace=self.get("party", "shutdown_grace", float, 10.0),
            limits=self.limits(),
        )

    def limits(self) -> Limits:
        defaults = Limits()
        mib = self.get("party", "max_message_mib", float, defaults.max_message / 2**20)
        keepalive = self.get("party", "keepalive", float, defaults.keepalive)
        answer = self.get("party", "keepalive_timeout", float, defaults.keepalive_timeout)
        try:
            return Limits(round(mib * 2**20), keepalive, answer)
        except ConfigurationError as error:
            raise ConfigurationError(f"{self.path}: [party] {error}") from None

    def policy(self) -> Policy:
        defaults = Policy()
        k = self.get("policy", "k", int, defaults.k)
        extremes = self.get("policy", "allow_extremes", bool, defaults.allow_extremes)
        fraction = self.get(
            "policy", "max_parameter_fraction", float, defaults.max_parameter_fraction
        )
        levels = self.get("policy", "max_quantile_levels", int, defaults.max_quantile_levels)
        try:
            return Policy(k, extremes, fraction, levels)
        except ConfigurationError as error:
            raise ConfigurationError(f"{self.path}: [policy] {error}") from None

    def datasets(self) -> dict[str, DatasetConfig]:
        tables = self.section("datasets", required=False)
        return {name: self.dataset(name, spec) for name, spec in tables.items()}

    def dataset(self, name: str, spec: Any) -> DatasetConfig:
        where = f"[datasets.{name}]"
        if not isinstance(spec, Mapping):
            self.fail(f"{where} must be a table")
        kind = spec.get("format")
        if not isinstance(kind, str) or kind not in _DATASET_KEYS:
            self.fail(f'{where} needs format = "csv", "parquet" or "sql", not {kind!r}')
        required, optional = _DATASET_KEYS[kind]
        self._known_keys(where, spec, {"format", "schema", *required, *optional})
        for key in ("schema", *required, *(key for key in optional if key in spec)):
            if not isinstance(spec.get(key), str):
                self.fail(f'{where} needs {key} = "..." (a string), not {spec.get(key)!r}')
        schema = Schema.load(self.base / spec["schema"])
        source = {key: value for key, value in spec.items() if key != "schema"}
        for key in ("path", "stage"):  # files, relative to the configuration's folder
            if key in source:
                source[key] = str(self.base / source[key])
        return DatasetConfig(name, source, schema)
