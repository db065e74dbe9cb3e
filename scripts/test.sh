#!/usr/bin/env bash
# One command from a fresh clone to the test results: installs everything (with test tools) and runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh --dev
# Two worker processes (pytest-xdist), each test file on one worker so that its module fixtures are built
# once: half the wall-clock time on 2 cores (README, "Tests"). `-n 0` as an argument runs in one process.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
