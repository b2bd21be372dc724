#!/usr/bin/env bash
# Regenerate the Python code of protocols/**/*.proto into mpcstats/ (committed), with the
# grpcio-tools version pinned in setup.py so the output is reproducible.
# With --check, generate into a temporary folder and fail if the committed code differs.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python}
out=.
if [ "${1:-}" = "--check" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
mapfile -t protos < <(find protocols -name '*.proto' | sort)
"$python" -m grpc_tools.protoc -I protocols --python_out="$out" --grpc_python_out="$out" \
    --pyi_out="$out" "${protos[@]}"
if [ "$out" != "." ]; then
    status=0
    while read -r generated; do
        if ! cmp -s "$out/$generated" "$generated"; then
            echo "generated code is stale: $generated (run scripts/gen_protos.sh)" >&2
            status=1
        fi
    done < <(cd "$out" && find . -name '*_pb2*' -type f | sort)
    [ $status -eq 0 ] && echo "generated protocol code is up to date"
    exit $status
fi
