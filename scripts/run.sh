#!/usr/bin/env bash
# One command from a fresh clone to the running service on http://127.0.0.1:8000: installs everything,
# fetches the default catalogue and weights, builds the index if missing (with progress), serves.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
export PHOTO2CAD_DATA_DIR="${PHOTO2CAD_DATA_DIR:-$PWD/data}"
.venv/bin/photo2cad setup
# One OpenMP thread per process: concurrent requests each get a thread already, and OpenMP pools
# fighting over 2 cores took p99 latency at 8 clients from 0.3 s to 2.3 s (BENCHMARKS.md, "Load").
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec .venv/bin/photo2cad serve --build-if-missing --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
