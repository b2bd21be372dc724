#!/usr/bin/env bash
# CI: regenerate the protocol code into a temporary folder and fail (exit 1) if the committed
# mpcstats/transport/_proto differs: a .proto changed without regenerating, the generated code
# was edited by hand, or it was made with another grpcio-tools than the one setup.py pins.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/scripts/gen_protos.sh" "$tmp"
committed="$root/mpcstats/transport/_proto"
if ! diff -ru -x __pycache__ "$committed" "$tmp/mpcstats/transport/_proto"; then
    tools=$("${PYTHON:-python3}" -c \
        'import importlib.metadata as m; print(m.version("grpcio-tools"))')
    echo "mpcstats/transport/_proto is stale: run scripts/gen_protos.sh" \
        "(grpcio-tools $tools here; setup.py pins the version)" >&2
    exit 1
fi
echo "mpcstats/transport/_proto is up to date"
