#!/usr/bin/env bash
# Create the isolated virtual environment of one benchmark peer:
#   benchmarks/setup_peers.sh mbi|dpmm
# Each peer lives in benchmarks/.venv-<peer> (git-ignored) with the pins of
# benchmarks/requirements-<peer>.txt; peers never enter the package's own venv.
# PEER_PYTHON overrides the interpreter (dpmm needs Python 3.10 or 3.11).
set -euo pipefail
cd "$(dirname "$0")"
peer="${1:?usage: setup_peers.sh mbi|dpmm}"
req="requirements-${peer}.txt"
[ -f "$req" ] || { echo "setup_peers.sh: no $req (known peers: mbi, dpmm)" >&2; exit 2; }
venv=".venv-${peer}"
stamp="$venv/.installed"
if [ -f "$stamp" ] && [ "$stamp" -nt "$req" ]; then
    echo "$venv is up to date"
    exit 0
fi
"${PEER_PYTHON:-python3}" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet -r "$req"
touch "$stamp"
echo "$venv ready"
