#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the SQL-source tests (installing it from
# Debian's packages if this machine lacks it) and print its SQLAlchemy URL. Idempotent: a server
# this script started earlier is reused. Data lives in /tmp/mpcstats-postgres.
set -euo pipefail
port=${MPCSTATS_POSTGRES_PORT:-54329}
data=/tmp/mpcstats-postgres
url="postgresql+psycopg://mpcstats@127.0.0.1:${port}/mpcstats"

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z $bin ]]; then
    echo "installing PostgreSQL from Debian's packages" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
# the server refuses to run as root: run it as the postgres user the package creates
as_owner() { if [[ $(id -u) == 0 ]]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
if ! id postgres >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
    useradd --system --home-dir "$data" postgres
fi

if ! as_owner "$bin/pg_ctl -D $data status" >/dev/null 2>&1; then
    if [[ ! -f $data/PG_VERSION ]]; then
        mkdir -p "$data"
        [[ $(id -u) == 0 ]] && chown postgres "$data"
        as_owner "$bin/initdb -D $data -U mpcstats --auth=trust -E UTF8" >/dev/null
    fi
    as_owner "$bin/pg_ctl -D $data -l $data/server.log -w -o \"-p $port -k /tmp -c listen_addresses=127.0.0.1\" start" >/dev/null
    as_owner "$bin/createdb -h 127.0.0.1 -p $port -U mpcstats mpcstats" 2>/dev/null || true
fi
echo "$url"
