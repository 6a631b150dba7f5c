#!/usr/bin/env bash
# Create every virtual environment the peer comparison (benchmarks/run.py) needs,
# skipping those already up to date (idempotent):
#   .venv-mbi        Private-PGM mbi 2.0.0        (requirements-mbi.txt)
#   .venv-dpmm       dpmm 0.1.9                   (requirements-dpmm.txt)
#   .venv-smartnoise SmartNoise synth 1.0.8       (requirements-smartnoise.txt; pulls torch, ~6 GB)
#   .venv-dpsynth    dpsynth, core dependencies only, as users install it (requirements-dpsynth.txt)
# Each is built by setup_peers.sh from its pinned requirements file. GNU time (/usr/bin/time) measures peak
# memory; without it run.py falls back to polling /proc.
# PEER_PYTHON picks the interpreter (the pins are for Python 3.11).
set -euo pipefail
cd "$(dirname "$0")"
for peer in dpsynth mbi dpmm smartnoise; do
    ./setup_peers.sh "$peer"
done
if [ ! -x /usr/bin/time ]; then
    echo "setup_bench.sh: /usr/bin/time not found (Debian: apt-get install time); peak RSS will be polled" >&2
fi
